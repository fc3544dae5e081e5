"""CycleGAN training on monet2photo, resumable: the loop behind notebook 06 and ``scripts/train_cyclegan.py``.

:class:`CycleGANConfig` holds the paper's settings (Zhu et al., 2017, sec. 7.1: Adam 2e-4, β₁ = 0.5,
batch 1, λ_cycle = 10, identity 0.5, a pool of 50 fakes, 100 epochs at the initial learning rate then
100 of linear decay); :class:`CycleGANTrainer` builds the model, optimizers, schedules, pools and loader
from it, trains epoch by epoch, writes a checkpoint after every epoch (atomically) and resumes from one.
On CUDA it trains under bfloat16 autocast and with channels-last tensors unless told otherwise.
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
from .models.cyclegan import CycleGAN, ImagePool, PatchDiscriminator, ResnetGenerator, linear_decay
from .training import DivergenceGuard, History, _autocast, cyclegan_step

CHECKPOINT_NAME, PREVIOUS_NAME = "last.pt", "previous.pt"
PRETRAINED_FIX = ("Rebuild it with `python scripts/train_cyclegan.py --preset small --checkpoint-dir runs/small "
                  "--export <this path>` (or restore the file from the repository).")
# Settings a resumed run may change: the length of the schedule and the numerics, not the model or data.
_MAY_CHANGE_ON_RESUME = ("n_epochs", "n_epochs_decay", "iterations_per_epoch", "mixed_precision", "channels_last")


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
    mixed_precision: bool = True   # bfloat16 autocast on CUDA
    channels_last: bool = True     # channels-last memory format on CUDA

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


def _reseed_worker(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    info.dataset.random.seed(info.seed)


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
                 discriminator: Callable[..., torch.nn.Module] = PatchDiscriminator) -> None:
        self.config, self.device, self.step = config, torch.device(device), step
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
        workers = (min(4, os.cpu_count() or 1) if cuda else 0) if num_workers is None else num_workers
        self.loader = DataLoader(self.dataset, config.batch_size, shuffle=True, drop_last=True, num_workers=workers,
                                 pin_memory=cuda, persistent_workers=workers > 0, worker_init_fn=_reseed_worker,
                                 generator=torch.Generator().manual_seed(config.seed))
        self.fixed_a, self.fixed_b = _fixed_test_images(root, config.crop_size, num_fixed)
        self.history, self.epoch = History(), 0
        if self.checkpoint_dir is not None:               # before any training: a folder that takes last.pt
            check_checkpoint_dir(self.checkpoint_dir, self.checkpoint_bytes(num_fixed), fix=(
                "Pass another checkpoint folder (--checkpoint-dir / checkpoint_dir=), free some space, "
                "or fix this folder's permissions."))
        if self.checkpoint_path is not None and self.checkpoint_path.is_file():
            if resume:
                self.load(self.checkpoint_path)
            else:                                       # start afresh, but keep the old run
                self._set_aside(self.checkpoint_path)
        if not self.history.snapshots:
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
        """About how many bytes the next ``last.pt`` takes (weights, both Adam states, full image pools,
        the translation snapshots so far and one more), with a quarter more for the history and slack."""
        cfg = self.config
        image = 3 * cfg.crop_size ** 2 * 4
        weights = state_bytes(self.model.state_dict())
        snapshots = (len(self.history.snapshots) + 2) * 6 * num_fixed * image
        return int(1.25 * (3 * weights + 2 * cfg.pool_size * image + snapshots))

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
        while self.epoch < last:
            start, sums = time.perf_counter(), {}
            bar = tqdm(total=per_epoch, desc=f"{desc} epoch {self.epoch + 1}/{cfg.total_epochs}", unit="it", leave=False)
            for i, (real_a, real_b) in enumerate(self.loader):
                if i == per_epoch:
                    break
                real_a = real_a.to(self.device, non_blocking=True, memory_format=self.memory_format)
                real_b = real_b.to(self.device, non_blocking=True, memory_format=self.memory_format)
                with _autocast(self.device, cfg.mixed_precision):
                    out = self.step(self.model, self.opt_g, self.opt_d, real_a, real_b, self.pool_a, self.pool_b,
                                    lambda_cycle=cfg.lambda_cycle, lambda_identity=cfg.lambda_identity)
                values = {k: float(v.detach()) for k, v in out.items()}
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
            self.history.snapshots.append((self.epoch, self.translate_fixed()))
            if self.checkpoint_path is not None:
                self.save(self.checkpoint_path)
        return self.history

    def state_dict(self) -> dict:
        return {
            "config": dataclasses.asdict(self.config), "epoch": self.epoch, "model": self.model.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
            "pools": [getattr(pool, "images", []) for pool in (self.pool_a, self.pool_b)],
            "pool_rng": [pool.random.getstate() if hasattr(pool, "random") else () for pool in (self.pool_a, self.pool_b)],
            "loader_rng": self.loader.generator.get_state(),
            "dataset_rng": self.dataset.random.getstate(),
            "history": {"steps": self.history.steps, "epochs": self.history.epochs,
                        "snapshots": self.history.snapshots, "seconds": self.history.seconds},
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }

    def save(self, path: Path) -> Path:
        """Write the whole training state to ``path`` atomically (a temporary file, then a rename)."""
        return atomic_save(self.state_dict(), path)

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
        if "loader_rng" in state:                     # exact continuation of the data order and pools
            self.loader.generator.set_state(state["loader_rng"])
            self.dataset.random.setstate(_as_tuple(state["dataset_rng"]))
        h = state["history"]
        self.history = History(h["steps"], h["epochs"], [tuple(s) for s in h["snapshots"]], h["seconds"])
        self.epoch = state["epoch"]
        torch.set_rng_state(state["rng"])
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)

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
