#!/usr/bin/env python
"""Train the course's pretrained models (for ``COURSE_MODE=lecture``) and export them to ``pretrained/``.

    python scripts/train_pretrained.py --list                     # every recipe, its notebook and data
    python scripts/train_pretrained.py vae_mnist_2d               # train (or continue) one, then export it
    python scripts/train_pretrained.py vae_mnist_2d --epochs 2 --no-export --checkpoint-dir /tmp/try

Each model trains epoch by epoch with a checkpoint (``runs/NAME/last.pt`` unless ``--checkpoint-dir``)
written atomically after every epoch; run the same command again to continue exactly where it stopped
(``--fresh`` starts over, keeping the old file as ``previous.pt``; ``--max-minutes`` stops after the epoch
that crosses the limit). At the end the exported modules are written in float16 to
``pretrained/NAME.pt`` and listed in ``pretrained/manifest.json`` with their sha256, the command and how
they were trained. Problems a user can fix (a damaged checkpoint, a missing dataset, an unwritable folder)
end in one message and exit status 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from course_utils import pretrained  # noqa: E402
from course_utils.checkpoints import CheckpointError  # noqa: E402
from course_utils.data import CorruptFileError, DatasetNotFoundError  # noqa: E402
from course_utils.recipes import all_recipes  # noqa: E402
from course_utils.runs import run_recipe  # noqa: E402
from course_utils.runtime import PROJECT_ROOT, StorageError, check_device, get_device  # noqa: E402
from course_utils.training import DivergenceError  # noqa: E402

USER_ERRORS = (CheckpointError, StorageError, DatasetNotFoundError, CorruptFileError, FileNotFoundError,
               DivergenceError, ValueError, KeyError)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="recipes to train (see --list)")
    parser.add_argument("--list", action="store_true", help="list the recipes and stop")
    parser.add_argument("--checkpoint-dir", type=Path, help="where last.pt goes (default runs/NAME)")
    parser.add_argument("--fresh", action="store_true", help="start over; the old last.pt is kept as previous.pt")
    parser.add_argument("--max-minutes", type=float, help="stop after the epoch that crosses this many minutes")
    parser.add_argument("--epochs", type=int, help="override the recipe's number of epochs")
    parser.add_argument("--seed", type=int, help="override the recipe's seed")
    parser.add_argument("--no-export", action="store_true", help="train only; do not write pretrained/")
    parser.add_argument("--device", help="cpu, cuda, ... (default: COURSE_DEVICE, else CUDA if available)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    recipes = all_recipes()
    if args.list or not args.names:
        for name, recipe in sorted(recipes.items()):
            print(f"{name:28s} notebook {recipe.notebook}  {recipe.epochs:4d} epochs  {recipe.data}")
        return 0
    try:
        unknown = [n for n in args.names if n not in recipes]
        if unknown:
            raise KeyError(f"no recipe {', '.join(unknown)}; run with --list to see them")
        device = get_device() if args.device is None else check_device(args.device, setting="--device")
        for name in args.names:
            recipe = recipes[name]
            folder = args.checkpoint_dir or PROJECT_ROOT / "runs" / name
            run = run_recipe(recipe, folder, device=device, fresh=args.fresh, max_minutes=args.max_minutes,
                             epochs=args.epochs, seed=args.seed)
            total = recipe.epochs if args.epochs is None else args.epochs
            if args.no_export or run.epoch < total:
                continue
            command = "python scripts/train_pretrained.py " + shlex.join(
                [name] + (["--epochs", str(args.epochs)] if args.epochs is not None else [])
                + (["--seed", str(args.seed)] if args.seed is not None else []))
            file = pretrained.export(name, {k: run.modules[k] for k in recipe.export or tuple(run.modules)},
                                     notebook=recipe.notebook, command=command, trained=recipe.describe(run),
                                     data=recipe.data, history=run.history, snapshots=recipe.snapshots,
                                     info={**recipe.info(run), "device": str(device),
                                           "threads": torch.get_num_threads(), "torch": str(torch.__version__)})
            print(f"{name}: exported to {file} ({file.stat().st_size / 2**20:.2f} MiB)")
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
