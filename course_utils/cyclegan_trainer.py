"""CycleGAN training on monet2photo, resumable: the loop behind notebook 06 and ``scripts/train_cyclegan.py``.

:class:`CycleGANConfig` holds the paper's settings (Zhu et al., 2017, sec. 7.1: Adam 2e-4, β₁ = 0.5,
batch 1, λ_cycle = 10, identity 0.5, a pool of 50 fakes, 100 epochs at the initial learning rate then
100 of linear decay); :class:`CycleGANTrainer` builds the model, optimizers, schedules, pools and loader
from it, trains epoch by epoch, writes a checkpoint after every epoch (atomically) and resumes from one.
On CUDA it trains under bfloat16 autocast and with channels-last tensors unless told otherwise.

Under ``torchrun`` (a :class:`~course_utils.distributed.Distributed` with several processes) each process
trains on its share of every global batch of ``N × batch_size`` (the four networks each in
DistributedDataParallel, one image pool shared through :class:`~course_utils.distributed.GatheredPool`),
and rank 0 alone translates the fixed images and writes the checkpoint. The data order and every crop,
flip and pairing are functions of ``(seed, epoch, index)``, so N processes at batch 1 train exactly as one
process at batch N, and a resumed run as one that never stopped.

The checkpoint keeps what resuming needs (weights, both Adam states, schedules, pools, random states of
every process, the losses) and a bounded preview: at most :data:`PREVIEW_SNAPSHOTS` translation snapshots
(:func:`preview_epochs`), stored as 8-bit images.
"""

from __future__ import annotations

import dataclasses
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import pretrained
from .checkpoints import CheckpointError, atomic_save, check_checkpoint_dir, load_into, load_state, state_bytes
from .data.monet2photo import UnpairedImages
from .distributed import Distributed, GatheredPool, IndexShards, SeededItems, parallel_view
from .models.cyclegan import CycleGAN, ImagePool, PatchDiscriminator, ResnetGenerator, linear_decay
from .training import DivergenceGuard, History, _autocast, cyclegan_step

CHECKPOINT_NAME, PREVIOUS_NAME = "last.pt", "previous.pt"
PRETRAINED_FIX = ("Rebuild it with `python scripts/train_cyclegan.py --preset small --checkpoint-dir runs/small "
                  "--export <this path>` (or restore the file from the repository).")
# Settings a resumed run may change: the length of the schedule and the numerics, not the model or data.
_MAY_CHANGE_ON_RESUME = ("n_epochs", "n_epochs_decay", "iterations_per_epoch", "mixed_precision", "channels_last")
PREVIEW_SNAPSHOTS = 8       # translation snapshots kept (in memory and in last.pt) however long the run
NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")


@dataclass
class CycleGANConfig:
    """Sizes and hyper-parameters of one CycleGAN run (defaults: the paper at 256×256)."""

    crop_size: int = 256           # training crops (the paper: 256; 128 with 6 blocks for small images)
    load_size: int | None = None   # resize before cropping; default crop_size · 286/256
    ngf: int = 64                  # generator filters in the first layer
    n_blocks: int = 9              # residual blocks (paper: 9 at 256 px, 6 at 128 px)
    ndf: int = 64                  # discriminator filters in the first layer
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    n_epochs: int = 100            # epochs at the initial learning rate
    n_epochs_decay: int = 100      # epochs of linear decay to zero
    iterations_per_epoch: int | None = None   # cap an epoch (default: one pass over the paintings)
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    seed: int = 0
    mixed_precision: bool = False  # bfloat16 autocast on CUDA (on an H100 no faster: README's Speed section)
    channels_last: bool = False    # channels-last memory format on CUDA (likewise)

    def __post_init__(self) -> None:
        if self.crop_size % 4:
            raise ValueError(f"crop_size={self.crop_size}: the generator needs a multiple of 4 (e.g. 64, 128, 256).")
        if self.load_size is None:
            self.load_size = round(self.crop_size * 286 / 256)
        if self.load_size < self.crop_size:
            raise ValueError(f"load_size={self.load_size} is smaller than crop_size={self.crop_size}.")

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay


def _fixed_test_images(root: Path, size: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    test = UnpairedImages(root, "test", load_size=size, crop_size=size, train=False)
    pairs = [test[i] for i in range(min(count, len(test)))]
    return torch.stack([a for a, _ in pairs]), torch.stack([b for _, b in pairs])


def _as_tuple(value):
    """``random.Random`` states are nested tuples; a round trip through ``torch.save`` may give lists."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def preview_epochs(latest: int, keep: int = PREVIEW_SNAPSHOTS) -> set[int]:
    """The epochs whose translation snapshots a run keeps after ``latest`` epochs: 0, ``latest`` and the
    multiples of the smallest power of two that leaves at most ``keep`` (≥ 2) of them.

    The set after epoch e + 1 is a subset of the set after e plus e + 1, so a resumed run keeps the
    same snapshots as one that never stopped: with ``keep = 8``, epochs 0-7 all, then 0, 2, 4, ... and
    the latest, then 0, 4, 8, ...; 200 epochs keep 0, 32, 64, ..., 192, 200.
    """
    def kept(step: int) -> set[int]:
        return {0, latest, *range(0, latest + 1, step)}

    step = 1
    while len(kept(step)) > max(keep, 2):
        step *= 2
    return kept(step)


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as 8-bit (a quarter of float32; invisible in a figure)."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _from_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()


class CycleGANTrainer:
    """Train a :class:`~course_utils.models.cyclegan.CycleGAN` on ``root/{trainA,trainB}``.

    ``step`` has the signature of :func:`course_utils.training.cyclegan_step`, ``image_pool(size)``
    builds an :class:`~course_utils.models.cyclegan.ImagePool`, ``generator(ngf=, n_blocks=)`` and
    ``discriminator(ndf=)`` the networks (notebook 06 passes its own step, pool and classes). A pool with its
    own ``random.Random`` as ``pool.random`` resumes exactly: that state is saved with the checkpoint.
    ``checkpoint_dir``: where ``last.pt`` is written after each epoch (checked to be writable, with room,
    before anything trains); with ``resume=True`` an existing one is loaded (``weights_only=True``; see
    :meth:`load`) and training continues after its epoch; with ``resume=False`` it is renamed
    ``previous.pt`` (replacing an older one; a damaged one becomes ``last.pt.damaged``) and training
    starts afresh.
    ``history.steps`` holds every iteration's losses, ``history.epochs`` their per-epoch means and
    ``history.snapshots`` ``(epoch, {"real_a", "fake_b", "rec_a", "real_b", "fake_a", "rec_b"})``
    translations of the same test images (epoch 0: before training).
    """

    def __init__(self, config: CycleGANConfig, root: Path, *, device: torch.device | str = "cpu",
                 checkpoint_dir: Path | None = None, resume: bool = True, step: Callable = cyclegan_step,
                 image_pool: Callable[[int], object] = ImagePool, num_workers: int | None = None,
                 num_fixed: int = 4, generator: Callable[..., torch.nn.Module] = ResnetGenerator,
                 discriminator: Callable[..., torch.nn.Module] = PatchDiscriminator,
                 distributed: Distributed | None = None) -> None:
        self.distributed = distributed if distributed is not None else Distributed(device=torch.device(device))
        d = self.distributed
        self.config, self.device, self.step = config, d.device if d.enabled else torch.device(device), step
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        cuda = self.device.type == "cuda"
        self.memory_format = torch.channels_last if cuda and config.channels_last else torch.contiguous_format
        torch.manual_seed(config.seed)
        self.model = CycleGAN(config.ngf, config.n_blocks, config.ndf, generator=generator, discriminator=discriminator)
        self.model.to(self.device, memory_format=self.memory_format)
        betas = (config.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.model.generators(), config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.model.discriminators(), config.lr, betas=betas)
        self.schedulers = [linear_decay(opt, config.n_epochs, config.n_epochs_decay) for opt in (self.opt_g, self.opt_d)]
        self.pool_a, self.pool_b = image_pool(config.pool_size), image_pool(config.pool_size)
        self.dataset = UnpairedImages(root, "train", load_size=config.load_size, crop_size=config.crop_size,
                                      seed=config.seed)
        # This process's share of each global batch; every example a function of (seed, epoch, index).
        self.sampler = IndexShards(len(self.dataset), config.batch_size, seed=config.seed, rank=d.rank,
                                   world_size=d.world_size)
        workers = (min(4, os.cpu_count() or 1) if cuda else 0) if num_workers is None else num_workers
        self.loader = DataLoader(SeededItems(self.dataset, config.seed), config.batch_size, sampler=self.sampler,
                                 drop_last=True, num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0)
        # What the step trains: each network under DDP and one pool for the global batch (one process: the model).
        self._nets = parallel_view(self.model, NETWORKS, d)
        self._pools = (GatheredPool(self.pool_a, d), GatheredPool(self.pool_b, d)) if d.enabled else (
            self.pool_a, self.pool_b)
        self.fixed_a, self.fixed_b = _fixed_test_images(root, config.crop_size, num_fixed)
        self.history, self.epoch = History(), 0
        if self.checkpoint_dir is not None and d.is_main:   # before any training: a folder that takes last.pt
            check_checkpoint_dir(self.checkpoint_dir, self.checkpoint_bytes(num_fixed), fix=(
                "Pass another checkpoint folder (--checkpoint-dir / checkpoint_dir=), free some space, "
                "or fix this folder's permissions."))
        found = self.checkpoint_path is not None and self.checkpoint_path.is_file()
        d.barrier()                                     # every process has looked before rank 0 renames
        if found:
            if resume:
                self.load(self.checkpoint_path)         # every process reads the same file
            elif d.is_main:                             # start afresh, but keep the old run
                self._set_aside(self.checkpoint_path)
        d.barrier()
        if not self.history.snapshots and d.is_main:
            self.history.snapshots.append((0, self.translate_fixed()))

    @staticmethod
    def _set_aside(path: Path) -> Path:
        """Rename ``path`` to ``previous.pt`` (replacing an older one); a damaged file (not a readable
        zip archive, as every ``torch.save`` file is) goes to ``last.pt.damaged`` instead, so that it never
        replaces a good ``previous.pt``."""
        target = path.with_name(PREVIOUS_NAME if zipfile.is_zipfile(path) else path.name + ".damaged")
        os.replace(path, target)
        return target

    def checkpoint_bytes(self, num_fixed: int = 4) -> int:
        """About how many bytes ``last.pt`` takes at most (weights, both Adam states, full image pools in
        float32, :data:`PREVIEW_SNAPSHOTS` snapshots of 6 × ``num_fixed`` 8-bit images), with a quarter more
        for the history and slack. It no longer grows with the number of epochs."""
        cfg = self.config
        pixels = 3 * cfg.crop_size ** 2
        weights = state_bytes(self.model.state_dict())
        snapshots = PREVIEW_SNAPSHOTS * 6 * num_fixed * pixels
        return int(1.25 * (3 * weights + 2 * cfg.pool_size * pixels * 4 + snapshots))

    @property
    def checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / CHECKPOINT_NAME if self.checkpoint_dir is not None else None

    @torch.no_grad()
    def translate(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """A → B → A and B → A → B for ``[N, 3, H, W]`` batches; all six rows as float CPU tensors."""
        self.model.eval()
        a = a.to(self.device, memory_format=self.memory_format)
        b = b.to(self.device, memory_format=self.memory_format)
        with _autocast(self.device, self.config.mixed_precision):
            fake_b, fake_a = self.model.G_AB(a), self.model.G_BA(b)
            rec_a, rec_b = self.model.G_BA(fake_b), self.model.G_AB(fake_a)
        self.model.train()
        rows = {"real_a": a, "fake_b": fake_b, "rec_a": rec_a, "real_b": b, "fake_a": fake_a, "rec_b": rec_b}
        return {k: v.float().cpu().contiguous() for k, v in rows.items()}

    def translate_fixed(self) -> dict[str, torch.Tensor]:
        return self.translate(self.fixed_a, self.fixed_b)

    def train(self, epochs: int | None = None, *, desc: str = "CycleGAN") -> History:
        """Train ``epochs`` more epochs (default: up to ``config.total_epochs``), checkpointing after each."""
        last = self.config.total_epochs if epochs is None else min(self.epoch + epochs, self.config.total_epochs)
        cfg = self.config
        per_epoch = min(len(self.loader), cfg.iterations_per_epoch or len(self.loader))
        guard = DivergenceGuard.from_history(self.history.steps)
        d = self.distributed
        while self.epoch < last:
            start, sums = time.perf_counter(), {}
            self.sampler.set_epoch(self.epoch)
            bar = tqdm(total=per_epoch, desc=f"{desc} epoch {self.epoch + 1}/{cfg.total_epochs}", unit="it",
                       leave=False, disable=not d.is_main)
            for i, (real_a, real_b) in enumerate(self.loader):
                if i == per_epoch:
                    break
                real_a = real_a.to(self.device, non_blocking=True, memory_format=self.memory_format)
                real_b = real_b.to(self.device, non_blocking=True, memory_format=self.memory_format)
                with _autocast(self.device, cfg.mixed_precision):
                    out = self.step(self._nets, self.opt_g, self.opt_d, real_a, real_b, *self._pools,
                                    lambda_cycle=cfg.lambda_cycle, lambda_identity=cfg.lambda_identity)
                # The losses of the global batch (the mean over the processes), read with one host sync.
                losses = d.mean(torch.stack([v.detach().float().reshape(()) for v in out.values()])).tolist()
                values = dict(zip(out, losses))
                guard.check(values, self.history.num_steps + 1)
                self.history.log_step(values)
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.update()
            bar.close()
            for scheduler in self.schedulers:
                scheduler.step()
            self.epoch += 1
            seconds = time.perf_counter() - start
            self.history.seconds += seconds
            self.history.log_epoch({**{k: v / per_epoch for k, v in sums.items()}, "seconds": seconds,
                                    "lr": self.opt_g.param_groups[0]["lr"]})
            if d.is_main:
                self.history.snapshots.append((self.epoch, self.translate_fixed()))
                kept = preview_epochs(self.epoch)
                self.history.snapshots = [(e, s) for e, s in self.history.snapshots if e in kept]
            if self.checkpoint_path is not None:
                self._write_checkpoint()
        return self.history

    def _rng_state(self) -> dict:
        """This process's random states (PyTorch's CPU generator, and its CUDA device's)."""
        return {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}

    def _write_checkpoint(self) -> None:
        """Every process hands rank 0 its random states; rank 0 writes ``last.pt``; all wait for the write."""
        rank_rng = self.distributed.gather(self._rng_state())
        if self.distributed.is_main:
            self.save(self.checkpoint_path, rank_rng=rank_rng)
        self.distributed.barrier()

    def state_dict(self, rank_rng: list[dict] | None = None) -> dict:
        """Everything resuming needs, and the preview snapshots as 8-bit images. ``rank_rng``: the random
        states of every process, rank by rank (default: this process's only)."""
        rank_rng = rank_rng if rank_rng is not None else [self._rng_state()]
        snapshots = [(e, {k: _to_uint8(v) for k, v in s.items()}) for e, s in self.history.snapshots]
        return {
            "config": dataclasses.asdict(self.config), "epoch": self.epoch, "model": self.model.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
            "pools": [getattr(pool, "images", []) for pool in (self.pool_a, self.pool_b)],
            "pool_rng": [pool.random.getstate() if hasattr(pool, "random") else () for pool in (self.pool_a, self.pool_b)],
            "history": {"steps": self.history.steps, "epochs": self.history.epochs,
                        "snapshots": snapshots, "seconds": self.history.seconds},
            "world_size": self.distributed.world_size,
            "rank_rng": rank_rng,
            "rng": rank_rng[0]["torch"],
            "cuda_rng": rank_rng[0]["cuda"],
        }

    def save(self, path: Path, rank_rng: list[dict] | None = None) -> Path:
        """Write the whole training state to ``path`` atomically (a temporary file, then a rename)."""
        return atomic_save(self.state_dict(rank_rng), path)

    def resume_fix(self, path: Path) -> str:
        """The way out when ``path`` (this trainer's checkpoint) cannot be resumed."""
        previous = Path(path).with_name(PREVIOUS_NAME)
        keep = (f"; or copy {previous} (the run before) over {path} to resume that one" if previous.is_file() else "")
        return (f"Start afresh with `scripts/train_cyclegan.py ... --fresh` (in Python: CycleGANTrainer(..., "
                f"resume=False)), which keeps this file as {PREVIOUS_NAME} (a damaged one as "
                f"{CHECKPOINT_NAME}.damaged, never over a good {PREVIOUS_NAME}){keep}; or pass another checkpoint folder.")

    def load(self, path: Path) -> None:
        """Resume from a checkpoint written by :meth:`save` (loaded with ``weights_only=True``).

        Every restored tensor goes to the trainer's device (weights, optimiser state, image pools) and
        the random states are restored (CPU, and this CUDA device's when the checkpoint has one). The
        learning rates follow *this* config's schedule at the saved epoch, so a longer ``n_epochs`` /
        ``n_epochs_decay`` takes effect on resume. Damaged files, other layouts, other settings or
        architectures, and a run already past this schedule raise :class:`CheckpointError` with the
        way out (``--fresh``, the kept ``previous.pt``).
        """
        path = Path(path)
        fix = self.resume_fix(path)
        state = load_state(path, map_location="cpu", what="CycleGAN training checkpoint", fix=fix,
                           keys=("config", "epoch", "model", "opt_g", "opt_d", "schedulers", "history", "rng"))
        saved = {k: v for k, v in state["config"].items() if k not in _MAY_CHANGE_ON_RESUME}
        mine = {k: v for k, v in dataclasses.asdict(self.config).items() if k in saved}
        if saved != mine:
            changed = {k: (saved[k], mine[k]) for k in saved if saved[k] != mine[k]}
            raise CheckpointError(f"{path} was written with other settings {changed} (saved, requested): use the "
                                  f"same settings to resume. {fix}")
        world = state.get("world_size", 1)
        if world != self.distributed.world_size:
            raise CheckpointError(
                f"{path} was trained by {world} process(es) at batch {self.config.batch_size} each (a global batch "
                f"of {world * self.config.batch_size}); this run has {self.distributed.world_size}: resume it with "
                + ("plain python" if world == 1 else f"torchrun --nproc_per_node={world}")
                + f" to keep its global batch. {fix}")
        if state["epoch"] > self.config.total_epochs:
            raise CheckpointError(
                f"{path} has trained {state['epoch']} epochs, more than this schedule's {self.config.total_epochs} "
                f"(n_epochs {self.config.n_epochs} + n_epochs_decay {self.config.n_epochs_decay}): ask for at least "
                f"{state['epoch']} epochs to continue it. {fix}")
        load_into(self.model, state["model"], path, what="CycleGAN training checkpoint", fix=fix)
        try:
            self.opt_g.load_state_dict(state["opt_g"])   # casts the moments to each parameter's device
            self.opt_d.load_state_dict(state["opt_d"])
            for scheduler, s in zip(self.schedulers, state["schedulers"], strict=True):
                scheduler.load_state_dict(s)
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(f"{path}: its optimiser state does not fit this model ({err}). {fix}") from None
        self._follow_schedule(state["epoch"])
        for pool, images, rng in zip((self.pool_a, self.pool_b), state["pools"], state.get("pool_rng", [(), ()])):
            if hasattr(pool, "images"):
                pool.images = [image.to(self.device, memory_format=self.memory_format) for image in images]
            if rng and hasattr(pool, "random"):
                pool.random.setstate(_as_tuple(rng))
        h = state["history"]
        snapshots = [(e, {k: _from_uint8(v) for k, v in s.items()}) for e, s in h["snapshots"]]
        self.history = History(h["steps"], h["epochs"], snapshots if self.distributed.is_main else [], h["seconds"])
        self.epoch = state["epoch"]          # the data order follows from it (IndexShards, SeededItems)
        rank_rng = state.get("rank_rng") or [{"torch": state["rng"], "cuda": state.get("cuda_rng")}]
        mine = rank_rng[self.distributed.rank] if len(rank_rng) == self.distributed.world_size else rank_rng[0]
        torch.set_rng_state(mine["torch"])
        if self.device.type == "cuda" and mine.get("cuda") is not None:
            torch.cuda.set_rng_state(mine["cuda"], self.device)

    def _follow_schedule(self, epoch: int) -> None:
        """Set every optimiser's learning rate to this config's schedule at ``epoch`` (the saved one was
        computed with the schedule of the run that wrote the checkpoint)."""
        for scheduler in self.schedulers:
            scheduler.last_epoch = epoch
            for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
                group["lr"] = base * factor(epoch)
            scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]

    def export_generators(self, path: Path, *, listing: dict | None = None, **info: float | int | str) -> Path:
        """Save both generators in float16 (about half the float32 size) with the settings needed to rebuild
        them and the training history (losses, no images), in :mod:`course_utils.pretrained`'s layout;
        :func:`load_generators` reads the file back. A ``.pt`` file in the pretrained folder is also listed in its
        manifest (sha256, size), with ``listing``'s ``command``, ``trained`` and ``data`` sentences."""
        cfg, path = self.config, Path(path)
        info = {"ngf": cfg.ngf, "n_blocks": cfg.n_blocks, "crop_size": cfg.crop_size, "epochs": self.epoch, **info}
        modules = {"G_AB": self.model.G_AB, "G_BA": self.model.G_BA}
        if path.suffix == ".pt" and path.parent.resolve() == pretrained.folder().resolve():
            listing = {"command": "python scripts/train_cyclegan.py", "trained": f"{self.epoch} epochs.",
                       "data": "monet2photo", **(listing or {})}
            return pretrained.export(path.stem, modules, notebook="06", history=self.history, snapshots=False,
                                     info=info, **listing)
        payload = {"modules": {key: {k: pretrained._to_storage(v) for k, v in m.state_dict().items()}
                               for key, m in modules.items()},
                   "history": pretrained._history_state(self.history, snapshots=False), "info": info}
        return atomic_save(payload, path)


def load_generators(path: Path, device: torch.device | str = "cpu"):
    """Read a file written by :meth:`CycleGANTrainer.export_generators` (``weights_only=True``): the layout of
    :mod:`course_utils.pretrained` (``modules`` ``G_AB``/``G_BA``), or the older one (``generators``).

    Returns ``(G_AB, G_BA, info)``: float32 :class:`~course_utils.models.cyclegan.ResnetGenerator` s in
    eval mode and the training settings stored with them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained CycleGAN at {path}; train one with scripts/train_cyclegan.py. "
                                + PRETRAINED_FIX)
    payload = load_state(path, what="pretrained CycleGAN", fix=PRETRAINED_FIX)
    weights = payload.get("modules", payload.get("generators")) if isinstance(payload, dict) else None
    if not isinstance(weights, dict):
        training = isinstance(payload, dict) and "opt_g" in payload
        raise CheckpointError(
            f"{path} is not a file written by export_generators (no generators in it); "
            + ("it is a training checkpoint (last.pt): resume it with CycleGANTrainer(..., resume=True) or export "
               "its generators with `scripts/train_cyclegan.py ... --export`." if training else PRETRAINED_FIX))
    info = payload.get("info", {})
    if not {"ngf", "n_blocks"} <= set(info) or not {"G_AB", "G_BA"} <= set(weights):
        raise CheckpointError(f"{path} lacks the generators' settings or weights (info: {sorted(info)}). "
                              + PRETRAINED_FIX)
    nets = []
    for name in ("G_AB", "G_BA"):
        net = ResnetGenerator(ngf=info["ngf"], n_blocks=info["n_blocks"])
        load_into(net, {k: v.float() for k, v in weights[name].items()}, path,
                  what="pretrained CycleGAN", fix=PRETRAINED_FIX)
        nets.append(net.to(device).eval())
    return nets[0], nets[1], info
