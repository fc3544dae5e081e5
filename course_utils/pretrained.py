"""Pretrained models for ``COURSE_MODE=lecture``: one manifest, verified files, one clear message.

``pretrained/manifest.json`` lists every shipped model::

    {"models": {"vae_mnist_2d": {"file": "vae_mnist_2d.pt", "sha256": "…", "bytes": 1234,
                                 "notebook": "01", "command": "python scripts/train_pretrained.py vae_mnist_2d",
                                 "trained": "30 epochs on the 60,000 MNIST training digits, …",
                                 "data": "MNIST (train)", "info": {…}}}}

A file holds ``{"modules": {key: state_dict in float16}, "history": {...} | None, "info": {...}}``,
written by :func:`export` and read with ``weights_only=True`` by :func:`load` after its sha256 has been
compared with the manifest's. A missing, changed or damaged file raises :class:`PretrainedError`
naming the command that rebuilds it.

In a notebook the training cell becomes::

    history = pretrained.train_or_load("vae_mnist_2d", {"model": vae}, lambda: train_vae(vae, ...))

which trains as before in ``smoke`` / ``quick`` / ``full`` mode and, in ``lecture`` mode, loads the
weights into ``vae`` (in its dtype, on its device), prints where they come from and how they were
trained, and returns the training history stored with them (curves are drawn from it).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from .checkpoints import CheckpointError, atomic_save, load_into, load_state
from .runtime import PROJECT_ROOT, is_lecture
from .training.history import History

MANIFEST = "manifest.json"
BUDGET_BYTES = 64 * 2**20   # everything in pretrained/ together


class PretrainedError(CheckpointError):
    """A pretrained model is not listed, missing, changed since it was listed, or damaged. The message
    names the file and the command that rebuilds it."""


def folder() -> Path:
    """Where the pretrained models are: ``COURSE_PRETRAINED_DIR`` if set, else the project's ``pretrained/``."""
    return Path(os.environ.get("COURSE_PRETRAINED_DIR") or PROJECT_ROOT / "pretrained")


def manifest(where: Path | None = None) -> dict[str, dict]:
    """The manifest's ``models`` table (an empty dict when there is no manifest yet)."""
    path = (where or folder()) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())["models"]
    except (ValueError, KeyError, TypeError) as err:
        raise PretrainedError(f"{path} is not a readable manifest ({type(err).__name__}: {err}); "
                              "restore it with `git checkout pretrained/manifest.json`.") from None


def _write_manifest(models: Mapping[str, dict], where: Path) -> None:
    path = where / MANIFEST
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"models": dict(sorted(models.items()))}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry(name: str, where: Path | None = None) -> dict:
    """The manifest entry of ``name``; :class:`PretrainedError` listing the known names if there is none."""
    models = manifest(where)
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise PretrainedError(f"no pretrained model {name!r} in {(where or folder()) / MANIFEST} (it lists: {known}). "
                              f"Train and export it with `python scripts/train_pretrained.py {name}`.")
    return models[name]


def path(name: str, *, where: Path | None = None, verify: bool = True) -> Path:
    """The file of ``name``, checked against the manifest (exists, same sha256) unless ``verify`` is false."""
    where = where or folder()
    info = entry(name, where)
    file = where / info["file"]
    rebuild = f"Rebuild it with `{info['command']}`."
    if not file.is_file():
        tracked = (f" If it was shipped with the course, `git checkout {file.relative_to(PROJECT_ROOT)}` restores it."
                   if PROJECT_ROOT in file.parents else "")
        raise PretrainedError(f"the pretrained model {name!r} ({file}) is missing. {rebuild}{tracked}")
    if verify:
        found = sha256(file)
        if found != info["sha256"]:
            raise PretrainedError(f"{file} has changed since it was listed in {where / MANIFEST} (sha256 {found[:12]}…, "
                                  f"listed {info['sha256'][:12]}…): damaged or replaced. {rebuild}")
    return file


def _to_storage(value: torch.Tensor) -> torch.Tensor:
    value = value.detach().cpu()
    return value.half() if value.is_floating_point() else value.clone()


def _history_state(history: History | None, snapshots: bool) -> dict | None:
    if history is None:
        return None
    return {"steps": {k: torch.tensor(v, dtype=torch.float32) for k, v in history.steps.items()},
            "epochs": {k: torch.tensor(v, dtype=torch.float64) for k, v in history.epochs.items()},
            "snapshots": [(int(e), _to_storage(img)) for e, img in history.snapshots] if snapshots else [],
            "seconds": float(history.seconds)}


def _history_from(state: dict | None) -> History | None:
    if state is None:
        return None
    return History(steps={k: v.tolist() for k, v in state["steps"].items()},
                   epochs={k: v.tolist() for k, v in state["epochs"].items()},
                   snapshots=[(e, img.float()) for e, img in state["snapshots"]], seconds=state["seconds"])


def export(name: str, modules: Mapping[str, nn.Module], *, notebook: str, command: str, trained: str, data: str,
           history: History | None = None, snapshots: bool = True, info: Mapping[str, Any] | None = None,
           where: Path | None = None) -> Path:
    """Write ``modules``' weights in float16 (integer buffers as they are) with ``history`` and ``info`` to
    ``<pretrained>/<name>.pt`` atomically, and list it in the manifest with its sha256, size, the notebook
    that loads it, the ``command`` that produced it, how it was ``trained`` (one sentence) and on what ``data``."""
    where = where or folder()
    info = json.loads(json.dumps(dict(info or {}), default=str))   # plain values only: weights_only loads them
    payload = {"modules": {key: {k: _to_storage(v) for k, v in module.state_dict().items()}
                           for key, module in modules.items()},
               "history": _history_state(history, snapshots), "info": info}
    file = atomic_save(payload, where / f"{name}.pt")
    models = manifest(where)
    models[name] = {"file": file.name, "sha256": sha256(file), "bytes": file.stat().st_size, "notebook": notebook,
                    "command": command, "trained": trained, "data": data, "info": info}
    _write_manifest(models, where)
    return file


@dataclass
class Pretrained:
    """What :func:`load` found: the manifest ``entry``, the stored ``history`` and ``info``."""

    name: str
    entry: dict
    history: History | None
    info: dict = field(default_factory=dict)
    file: Path | None = None

    def describe(self) -> str:
        e = self.entry
        shown = self.file.relative_to(PROJECT_ROOT) if self.file and PROJECT_ROOT in self.file.parents else self.file
        return (f"pretrained model {self.name!r}: {shown} ({e['bytes'] / 2**20:.1f} MiB, "
                f"sha256 {e['sha256'][:12]}…), trained on {e['data']}: {e['trained']} Rebuilt by `{e['command']}`.")


def load(name: str, modules: Mapping[str, nn.Module], *, where: Path | None = None) -> Pretrained:
    """Verify ``name``'s file and load its weights into ``modules`` (same keys as at :func:`export`), each
    converted to the dtype and device of the module's own tensors. Returns a :class:`Pretrained`."""
    where = where or folder()
    file = path(name, where=where)
    fix = f"Rebuild it with `{entry(name, where)['command']}`."
    payload = load_state(file, what=f"pretrained model {name!r}", fix=fix, keys=("modules", "history", "info"))
    missing = sorted(set(modules) - set(payload["modules"]))
    if missing:
        raise PretrainedError(f"{file} has no weights for {missing} (it holds {sorted(payload['modules'])}). {fix}")
    for key, module in modules.items():
        own = module.state_dict()
        state = dict(payload["modules"][key])
        if set(state) != set(own) and len(state) == len(own):   # other attribute names: match by position
            state = dict(zip(own, state.values()))
        state = {k: v.to(dtype=own[k].dtype, device=own[k].device) if k in own else v for k, v in state.items()}
        load_into(module, state, file, what=f"pretrained model {name!r}", fix=fix)
        module.eval()
    return Pretrained(name, entry(name, where), _history_from(payload["history"]), payload["info"], file)


def train_or_load(name: str, modules: Mapping[str, nn.Module], train: Callable[[], Any], *,
                  where: Path | None = None) -> Any:
    """``train()`` in every mode but ``lecture``; in ``lecture`` mode :func:`load` ``name`` into ``modules``,
    print where it comes from and how it was trained, and return its stored :class:`History` (or ``None``)."""
    if not is_lecture():
        return train()
    found = load(name, modules, where=where)
    print(found.describe())
    return found.history
