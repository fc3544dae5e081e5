#!/usr/bin/env python
"""Run notebooks in one ``COURSE_MODE`` and record how long each takes: wall clock, CPU time, slowest cells.

    python scripts/time_notebooks.py --mode lecture                  # every solution notebook
    python scripts/time_notebooks.py --mode quick 03 07 --threads 1  # two of them, one thread

Each notebook is executed from a copy in a temporary folder (nbclient), so the stored outputs are never
touched. CPU time is that of the kernel process and its children (``resource.getrusage``), which stays
meaningful when other jobs share the machine; wall-clock time does not. Results go to
``benchmarks/notebooks.json`` under the machine, the mode and the thread count, next to the budget
each mode has (smoke 30 s, quick 300 s, lecture 60 s per notebook on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "notebooks.json"
BUDGET_S = {"smoke": 30, "quick": 300, "lecture": 60, "full": 600}

RUNNER = r"""
import json, sys, time
from datetime import datetime
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
error = None
try:
    NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
except Exception as err:  # the timing of the cells that ran is still worth keeping
    error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
cells = []
for i, cell in enumerate(nb.cells):
    t = cell.get("metadata", {}).get("execution", {})
    if "iopub.execute_input" in t and "shell.execute_reply" in t:
        a = datetime.fromisoformat(t["iopub.execute_input"].replace("Z", "+00:00"))
        b = datetime.fromisoformat(t["shell.execute_reply"].replace("Z", "+00:00"))
        cells.append((i, (b - a).total_seconds(), "".join(cell.source).splitlines()[0][:70] if cell.source else ""))
print(json.dumps({"wall_s": time.perf_counter() - start, "cells": cells, "error": error}))
"""


def run_one(path: Path, mode: str, threads: int | None) -> dict:
    env = dict(os.environ, COURSE_MODE=mode, MPLBACKEND="module://matplotlib_inline.backend_inline",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-c", RUNNER, str(copy), str(path.parent)], env=env,
                             capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0 or not out.stdout.strip():
        return {"error": (out.stderr or "no output").strip().splitlines()[-1][:300]}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    slowest = sorted(result["cells"], key=lambda c: -c[1])[:5]
    return {"wall_s": round(result["wall_s"], 1), "cpu_s": round(cpu, 1),
            "slowest_cells": [{"cell": i, "s": round(s, 1), "starts": text} for i, s, text in slowest],
            **({"error": result["error"]} if result["error"] else {})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers (03) or paths; default: every solution notebook")
    parser.add_argument("--mode", choices=sorted(BUDGET_S), default="lecture")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the kernel (default: as set)")
    parser.add_argument("--variant", choices=("solutions", "exercises"), default="solutions")
    parser.add_argument("--no-save", action="store_true", help="print only; do not update benchmarks/notebooks.json")
    args = parser.parse_args(argv)
    folder = ROOT / "notebooks" / args.variant
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        wanted = [n if n.endswith(".ipynb") else n.zfill(2) for n in args.notebooks]
        paths = [p for p in paths if any(p.name.startswith(w) or str(p).endswith(w) for w in wanted)]
    load = os.getloadavg()[0]
    key = f"{platform.machine()}, {os.cpu_count()} cores, threads {args.threads or 'default'}"
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    table = results.setdefault(key, {}).setdefault(args.mode, {})
    failed = 0
    for path in paths:
        r = run_one(path, args.mode, args.threads)
        r.update(measured=str(date.today()), load_average_before=round(load, 1), variant=args.variant)
        failed += "error" in r
        over = " (over budget)" if r.get("wall_s", 0) > BUDGET_S[args.mode] else ""
        print(f"{path.stem:32s} {args.mode:8s} wall {r.get('wall_s', '-')} s{over}, CPU {r.get('cpu_s', '-')} s"
              + (f"  ERROR {r['error']}" if "error" in r else ""), flush=True)
        for c in r.get("slowest_cells", [])[:3]:
            print(f"    cell {c['cell']:3d}: {c['s']:7.1f} s  {c['starts']}")
        table[path.stem] = r
        load = os.getloadavg()[0]
    if not args.no_save:
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
