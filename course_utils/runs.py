"""Resumable training runs for the scripts: one lean checkpoint per epoch, exact resume, fp16 export.

A :class:`Recipe` says how one pretrained model of the course is built and trained, one epoch at a time
(``course_utils/recipes/nbNN_*.py`` hold them). :class:`Run` holds what is being trained — modules,
optimisers, the :class:`~course_utils.training.History`, the epoch — and writes ``last.pt`` after every
epoch: weights, optimiser states, the history (its image snapshots in float16: a recipe keeps them small),
and every random state
(Python, NumPy, PyTorch, CUDA), so that a run stopped after epoch *k* and resumed trains exactly as one
that never stopped, provided the recipe's ``train_epoch`` seeds its data order from ``run.epoch``
(:meth:`Run.epoch_seed`). ``scripts/train_pretrained.py`` drives it.

Under ``torchrun`` (a :class:`~course_utils.distributed.Distributed` with N processes) a recipe that says
``parallel=True`` trains its modules through :meth:`Run.parallel` (DistributedDataParallel) on
:meth:`Run.shard` (this process's share of every global batch of N × its batch size); rank 0 alone logs
and writes ``last.pt``, every process resumes from it, and after every epoch the processes check that
their weights are still identical.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from torch.utils.data import Dataset, Subset

from .checkpoints import CheckpointError, atomic_save, check_checkpoint_dir, load_into, load_state
from .distributed import Distributed, IndexShards
from .training.history import History

CHECKPOINT_NAME = "last.pt"
PREVIOUS_NAME = "previous.pt"


def rng_state() -> dict:
    """Every global random state as tensors and plain values (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():   # (saved where more GPUs were visible: as many as there are)
        for index, cuda_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


@dataclass
class Run:
    """The state of one training run; :meth:`save` / :meth:`load` make it resumable.

    ``modules`` and ``optimizers`` are dicts by name; ``epoch`` counts finished epochs; ``seed`` is the
    run's base seed; ``meta`` holds the settings a resume must match (the recipe's name and options).
    """

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    seed: int = 0
    meta: dict = field(default_factory=dict)
    history: History = field(default_factory=History)
    epoch: int = 0
    extra: dict = field(default_factory=dict)   # a recipe's own resumable state (tensors and plain values)
    distributed: Distributed = field(default_factory=Distributed)
    _wrapped: dict = field(default_factory=dict, repr=False)

    def parallel(self, name: str) -> nn.Module:
        """``modules[name]`` as training should call it: under DistributedDataParallel when several processes
        train (only calls of the wrapper itself average gradients), the module itself in one process."""
        if name not in self._wrapped:
            self._wrapped[name] = self.distributed.wrap(self.modules[name])
        return self._wrapped[name]

    def shard(self, dataset: Dataset, batch_size: int) -> Dataset:
        """This process's share of ``dataset`` for this epoch: the ``rank``-th ``batch_size`` examples of every
        global batch of a permutation drawn from :meth:`epoch_seed` (:class:`~course_utils.distributed.IndexShards`).
        In one process, ``dataset`` itself (the recipe's own loop shuffles it)."""
        d = self.distributed
        if not d.enabled:
            return dataset
        sampler = IndexShards(len(dataset), batch_size, seed=self.epoch_seed(), rank=d.rank, world_size=d.world_size)
        return Subset(dataset, sampler.indices())

    def check_in_step(self) -> None:
        """Raise if the processes' weights differ (a module trained without :meth:`parallel`)."""
        d = self.distributed
        if not d.enabled:
            return
        mine = torch.stack([torch.stack([p.detach().double().sum(), p.detach().double().abs().sum()])
                            for m in self.modules.values() for p in m.parameters()]).flatten()
        if not torch.allclose(d.mean(mine.float()).double(), mine, rtol=1e-5, atol=1e-6):
            raise RuntimeError("the processes' weights differ after this epoch: the recipe trains a module without "
                               "Run.parallel (or outside its forward), so gradients were not averaged.")

    def epoch_seed(self, offset: int = 0) -> int:
        """A seed for this epoch's data order and noise: the same on a resumed run as on an unbroken one."""
        return self.seed * 100_003 + self.epoch * 1_009 + offset

    def state_dict(self) -> dict:
        return {"modules": {k: m.state_dict() for k, m in self.modules.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "history": {"steps": self.history.steps, "epochs": self.history.epochs, "seconds": self.history.seconds,
                            "snapshots": [(e, img.half()) for e, img in self.history.snapshots]},
                "epoch": self.epoch, "seed": self.seed, "meta": self.meta, "extra": self.extra, "rng": rng_state()}

    def save(self, path: Path) -> Path:
        """Write the run to ``path`` atomically."""
        return atomic_save(self.state_dict(), path)

    def load(self, path: Path, *, fix: str) -> None:
        """Continue from ``path`` (``weights_only=True``): weights and optimiser states on the modules' devices,
        history, epoch and every random state. Other settings (``meta``) raise :class:`CheckpointError` with ``fix``."""
        state = load_state(path, what="training checkpoint", fix=fix,
                           keys=("modules", "optimizers", "history", "epoch", "meta", "rng"))
        if state["meta"] != self.meta or state.get("seed", 0) != self.seed:
            changed = {k: (state["meta"].get(k), self.meta.get(k)) for k in set(state["meta"]) | set(self.meta)
                       if state["meta"].get(k) != self.meta.get(k)}
            raise CheckpointError(f"{path} was written with other settings {changed or {'seed': state.get('seed')}} "
                                  f"(saved, requested). {fix}")
        for key, module in self.modules.items():
            load_into(module, state["modules"][key], path, what="training checkpoint", fix=fix)
        try:
            for key, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state["optimizers"][key])   # moves the moments to the parameters' device
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(f"{path}: its optimiser state does not fit these models ({err}). {fix}") from None
        h = state["history"]
        self.history = History(h["steps"], h["epochs"], [(e, img.float()) for e, img in h.get("snapshots", [])],
                               h["seconds"])
        self.epoch = state["epoch"]
        self.extra = state.get("extra", {})
        set_rng_state(state["rng"])


@dataclass
class Recipe:
    """How one pretrained model is made.

    ``build(device, seed)`` returns ``(modules, optimizers)``; ``train_epoch(run)`` trains one epoch (whatever
    the recipe calls an epoch: a pass over the data, or a block of GAN iterations), logging into
    ``run.history`` and seeding from :meth:`Run.epoch_seed`; ``describe(run)`` is the sentence stored as
    ``trained`` in the manifest. ``export`` names the modules shipped (e.g. only a generator).
    """

    name: str
    notebook: str
    data: str
    epochs: int
    build: Callable[[torch.device, int], tuple[dict[str, nn.Module], dict[str, torch.optim.Optimizer]]]
    train_epoch: Callable[[Run], None]
    describe: Callable[[Run], str]
    export: tuple[str, ...] = ()
    seed: int = 0
    info: Callable[[Run], dict] = lambda run: {}
    snapshots: bool = False    # store the history's image snapshots in the exported file
    parallel: bool = False     # trains through Run.parallel / Run.shard, so it may run under torchrun


def run_recipe(recipe: Recipe, checkpoint_dir: Path | None, *, device: torch.device | str = "cpu", fresh: bool = False,
               max_minutes: float | None = None, epochs: int | None = None, seed: int | None = None,
               log: Callable[[str], None] = print, distributed: Distributed | None = None) -> Run:
    """Train ``recipe`` to ``epochs`` (default: the recipe's), resuming from ``checkpoint_dir/last.pt`` unless
    ``fresh`` (then the old file is kept as ``previous.pt``), saving after every epoch. Stops early after the
    epoch that crosses ``max_minutes``. Returns the :class:`Run`. ``distributed``: the process group under
    ``torchrun`` (rank 0 logs and saves; see the module's docstring)."""
    d = distributed if distributed is not None else Distributed(device=torch.device(device))
    if d.enabled and not recipe.parallel:
        raise ValueError(f"recipe {recipe.name} has no data-parallel version (parallel=False): run it with plain "
                         "python, not torchrun.")
    device = d.device if d.enabled else torch.device(device)
    log = log if d.is_main else (lambda message: None)
    seed = recipe.seed if seed is None else seed
    total = recipe.epochs if epochs is None else epochs
    modules, optimizers = recipe.build(device, seed)
    run = Run(modules, optimizers, seed=seed, meta={"recipe": recipe.name, **(
        {"processes": d.world_size} if d.enabled else {})}, distributed=d)
    path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    if path is not None:
        if d.is_main:
            check_checkpoint_dir(path.parent, need_bytes=2 * sum(p.numel() * 4 for m in modules.values()
                                                                  for p in m.parameters()))
        fix = (f"Start afresh with `python scripts/train_pretrained.py {recipe.name} --fresh` (keeps it as "
               f"{PREVIOUS_NAME}), or pass another --checkpoint-dir.")
        found = path.is_file()
        d.barrier()                                   # every process has looked before rank 0 renames
        if fresh and found:
            if d.is_main:
                path.replace(path.with_name(PREVIOUS_NAME))
        elif found:
            run.load(path, fix=fix)                   # every process reads the same file
            log(f"{recipe.name}: resumed from {path} after epoch {run.epoch}")
        d.barrier()
    start = time.perf_counter()
    while run.epoch < total:
        t0, seconds = time.perf_counter(), run.history.seconds
        recipe.train_epoch(run)
        run.epoch += 1
        run.history.seconds = seconds + time.perf_counter() - t0   # whatever loop train_epoch used
        last = {k: v[-1] for k, v in run.history.epochs.items() if v}
        log(f"{recipe.name} epoch {run.epoch}/{total}: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items()))
        run.check_in_step()
        if path is not None:
            if d.is_main:
                run.save(path)
            d.barrier()
        if d.agree(max_minutes is not None and time.perf_counter() - start > 60 * max_minutes) and run.epoch < total:
            log(f"stopping after {max_minutes} minutes; run the same command again to continue from {path}")
            break
    return run
