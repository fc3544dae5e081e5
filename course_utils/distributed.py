"""Data-parallel training under ``torchrun``: one process per device, each on its share of every global batch.

``torchrun --standalone --nproc_per_node=N script.py ...`` starts N copies of a script and tells each one,
through environment variables, who it is (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) and where the others
are (``MASTER_ADDR``, ``MASTER_PORT``). :func:`setup` reads them, joins the process group (NCCL between
CUDA devices, one device per process, ``cuda:LOCAL_RANK``; gloo on the CPU) and returns a
:class:`Distributed`; under plain ``python`` it returns a one-process :class:`Distributed` and every
helper here does nothing.

Data parallelism (Li et al., 2020, *PyTorch Distributed: Experiences on Accelerating Data Parallel
Training*): every process computes the gradient of the mean loss over its own B examples;
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients over the N processes, which
is the gradient of the mean loss over the global batch of N·B examples, provided the loss is a mean of
per-example terms of equal size and no layer mixes examples (InstanceNorm does not; BatchNorm does,
through its batch statistics). Every process then takes the same optimiser step, so the weights stay
identical on every rank. :class:`IndexShards` hands each process its part of each global batch, and
:class:`SeededItems` makes every random draw of an example (crop, flip, pairing) a function of
``(seed, epoch, index)``, so that N processes at batch B see exactly the examples one process sees at
batch N·B.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, Sampler

from .runtime import get_device

__all__ = ["Distributed", "GatheredPool", "IndexShards", "SeededItems", "item_seed", "launched_by_torchrun",
           "parallel_view", "running", "setup", "shutdown"]


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass(frozen=True)
class Distributed:
    """Who this process is among the ``world_size`` processes of a run, and its device.

    ``rank`` 0 is the main process: the only one that prints, writes checkpoints and exports. With
    ``world_size == 1`` (plain ``python``) every collective below returns its input.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every process gets here (around checkpoint writes: nobody reads a half-written file)."""
        if self.enabled:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of ``values`` (any shape) over the processes; ``values`` itself in one process."""
        if not self.enabled:
            return values
        values = values.detach().to(self.device, torch.float32).clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values / self.world_size

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every process (a decision such as "stop now" that must be taken together)."""
        if not self.enabled:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def gather(self, obj: Any) -> list[Any]:
        """``[obj of rank 0, obj of rank 1, ...]`` on every process (picklable objects: random states)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` (which copies rank 0's weights
        to every process and averages gradients during ``backward``); ``module`` itself in one process."""
        if not self.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return _ForwardingDDP(module, device_ids=ids, output_device=ids[0] if ids else None)

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on rank 0 only."""
        if self.is_main:
            print(*args, **kwargs)


class _ForwardingDDP(DistributedDataParallel):
    """DDP whose unknown attributes are the wrapped module's (``net.decoder``, ``net.generators()``).

    Only ``forward`` (calling the wrapper) averages gradients; another method called through the wrapper
    runs the module's own code, outside DDP, as for evaluation and snapshots under ``torch.no_grad``.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":           # not set yet (inside DDP's own __init__)
                raise
            return getattr(self.module, name)


def setup(device: torch.device | str | None = None) -> Distributed:
    """Join the process group ``torchrun`` set up for this process (NCCL on CUDA, gloo on the CPU).

    ``device``: the device type to train on (default: ``COURSE_DEVICE``, else CUDA if available). Under
    ``torchrun`` with CUDA every process takes ``cuda:LOCAL_RANK`` (a device index given here is replaced);
    more processes than devices is a ``ValueError`` saying so. Without ``torchrun`` (or with one process)
    nothing is initialised and the :class:`Distributed` has ``world_size`` 1 on ``device``.
    """
    device = get_device() if device is None else torch.device(device)
    if not launched_by_torchrun():
        return Distributed(device=device)
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if device.type == "cuda":
        count = torch.cuda.device_count()
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        if local >= count:
            raise ValueError(f"torchrun started {local_world} processes on this machine but it has {count} CUDA "
                             f"device(s): use --nproc_per_node={count} (one process per device).")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"torchrun on {device.type}: several processes train on CUDA (NCCL) or on the CPU "
                         "(gloo) only; run this script with plain python on this device.")
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world,
                                device_id=device if device.type == "cuda" else None)
    return Distributed(rank=rank, world_size=world, local_rank=local, device=device)


def shutdown() -> None:
    """Leave the process group (at the end of a script, also after an error); nothing to do in one process."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def running(device: torch.device | str | None = None) -> Iterator[Distributed]:
    """``with running(device) as d:`` :func:`setup` on entry, :func:`shutdown` on the way out."""
    try:
        yield setup(device)
    finally:
        shutdown()


def item_seed(*keys: int) -> int:
    """A 64-bit seed from integers such as ``(seed, epoch, index)`` (NumPy's ``SeedSequence``: nearby keys
    give unrelated seeds)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0])


class IndexShards(Sampler):
    """This process's share of every global batch of an epoch, as ``(epoch, index)`` pairs.

    Each epoch is a permutation of ``range(n)`` drawn from ``(seed, epoch)`` (the identity with
    ``shuffle=False``), cut into global batches of ``world_size · batch_size`` (the incomplete last one is
    dropped); process ``rank`` takes the ``rank``-th run of ``batch_size`` indices of each. One process at
    batch ``world_size · batch_size`` therefore gets the same global batches, in the same order, as the N
    processes together. Set the epoch with :meth:`set_epoch` before iterating.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True) -> None:
        if n < world_size * batch_size:
            raise ValueError(f"{n} examples cannot fill one global batch of {world_size} process(es) × "
                             f"{batch_size}: use fewer processes or a smaller batch.")
        self.n, self.batch_size, self.seed, self.rank, self.world_size = n, batch_size, seed, rank, world_size
        self.shuffle, self.epoch = shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def num_batches(self) -> int:
        """Global batches per epoch (the same for every process)."""
        return self.n // (self.world_size * self.batch_size)

    def indices(self) -> list[int]:
        """This process's indices for the current epoch, in order."""
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(item_seed(self.seed, self.epoch)))
        else:
            order = torch.arange(self.n)
        step, b = self.world_size * self.batch_size, self.batch_size
        shards = [order[k * step + self.rank * b: k * step + (self.rank + 1) * b] for k in range(self.num_batches)]
        return torch.cat(shards).tolist() if shards else []

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.indices()])


class SeededItems(Dataset):
    """``dataset`` read as ``items[(epoch, index)]``, every random draw of that example seeded by
    ``(seed, epoch, index)``: PyTorch's generator (torchvision's random crops and flips), restored
    afterwards, and the dataset's own ``random.Random`` (``dataset.random``, if it has one: e.g. which
    photo a painting is paired with). An example is then the same whichever process, worker or batch
    reads it, and a resumed run reads the same examples as one that never stopped.
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        seed = item_seed(self.seed, epoch, index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if hasattr(self.dataset, "random"):
                self.dataset.random.seed(seed)
            return self.dataset[index]


class GatheredPool:
    """One image pool (Shrivastava et al., 2017) shared by all processes, as in one process at the global batch.

    ``query(images)`` (``[B, C, H, W]``, this process's fakes) gathers the fakes of every process in rank
    order (``[N·B, C, H, W]``), queries ``pool`` with all of them and returns this process's rows of the
    answer. Every process holds an identical copy of ``pool`` (same seed, same inputs, same draws), so
    each one's ``pool.images`` is the state to checkpoint. In one process it is ``pool.query``.
    """

    def __init__(self, pool: Any, distributed: Distributed) -> None:
        self.pool, self.distributed = pool, distributed

    def query(self, images: torch.Tensor) -> torch.Tensor:
        d = self.distributed
        if not d.enabled:
            return self.pool.query(images)
        mine = images.detach().contiguous()
        everyone = [torch.empty_like(mine) for _ in range(d.world_size)]
        dist.all_gather(everyone, mine)
        answer = self.pool.query(torch.cat(everyone))
        b = mine.shape[0]
        return answer[d.rank * b:(d.rank + 1) * b]


class _View:
    """``model`` with some sub-modules replaced by their DDP wrappers (see :func:`parallel_view`)."""

    def __init__(self, model: nn.Module, wrapped: dict[str, nn.Module]) -> None:
        self._model, self._wrapped = model, wrapped

    def __getattr__(self, name: str) -> Any:
        wrapped = self.__dict__["_wrapped"]
        return wrapped[name] if name in wrapped else getattr(self.__dict__["_model"], name)


def parallel_view(model: nn.Module, names: Sequence[str], distributed: Distributed):
    """``model`` as a training step sees it, each sub-module in ``names`` called through its own DDP.

    For models trained by several optimisers in one step, such as a CycleGAN's ``G_AB, G_BA, D_A, D_B``:
    ``view.G_AB(x)`` runs ``model.G_AB`` under DDP, every other attribute (``view.discriminators()``) is
    ``model``'s. ``model`` itself keeps its own parameter names (checkpoints do not change). In one
    process it returns ``model``.
    """
    if not distributed.enabled:
        return model
    return _View(model, {name: distributed.wrap(getattr(model, name)) for name in names})
