#!/usr/bin/env python
"""Train a CycleGAN on monet2photo (A = Monet paintings, B = photos), resumable, one checkpoint per epoch.

    python scripts/train_cyclegan.py --preset paper --checkpoint-dir runs/paper          # a GPU, days
    python scripts/train_cyclegan.py --preset small --checkpoint-dir runs/small \\
        --export checkpoints/cyclegan_monet2photo_small.pt                               # the shipped model

Run it again with the same ``--checkpoint-dir`` to continue where it stopped (``--fresh`` starts over).
``--max-minutes`` stops cleanly after the epoch that crosses the limit. Presets: ``paper`` is the
paper's model and schedule (256 px, ngf 64, 9 blocks, 100 + 100 epochs); ``small`` is what the CPU can
afford (128 px, ngf 32, 6 blocks as the paper uses at 128 px, ndf 32); ``smoke`` runs in seconds.
On CUDA ``--amp`` trains in bfloat16 autocast and ``--channels-last`` with channels-last tensors (both off by
default: on an H100 neither made an iteration faster, README's Speed section).

Several devices, or several CPU processes: ``torchrun --standalone --nproc_per_node=N scripts/train_cyclegan.py
...`` trains with DistributedDataParallel (NCCL on CUDA, one device per process; gloo on the CPU), each
process on its share of every global batch of N × ``--batch-size`` examples; N processes at batch 1 train
exactly as one process at batch N. Rank 0 alone prints, writes the checkpoint and exports; all of them
resume from the same ``last.pt``, which must have been written with the same N.
Before the first iteration it checks the device (``--device``, index included), the dataset (every image
file) and the checkpoint folder (writable, with room); a problem with any of them, or with the checkpoint
it would resume, ends in one message saying what to do (exit status 2), not a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from course_utils.checkpoints import CheckpointError  # noqa: E402
from course_utils.cyclegan_trainer import CycleGANConfig, CycleGANTrainer  # noqa: E402
from course_utils.data import CorruptFileError, DatasetNotFoundError, monet2photo_root  # noqa: E402
from course_utils.distributed import Distributed, setup, shutdown  # noqa: E402
from course_utils.runtime import StorageError, check_device, check_writable, get_device, seed_everything  # noqa: E402
from course_utils.training import DivergenceError  # noqa: E402

# What a user can fix from the message alone: printed without a traceback.
USER_ERRORS = (CheckpointError, StorageError, DatasetNotFoundError, CorruptFileError, FileNotFoundError,
               DivergenceError, ValueError)

PRESETS = {
    "paper": dict(crop_size=256, ngf=64, n_blocks=9, ndf=64, n_epochs=100, n_epochs_decay=100),
    "small": dict(crop_size=128, ngf=32, n_blocks=6, ndf=32, n_epochs=8, n_epochs_decay=6),
    "smoke": dict(crop_size=32, ngf=8, n_blocks=1, ndf=8, n_epochs=1, n_epochs_decay=1, iterations_per_epoch=3),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    parser.add_argument("--checkpoint-dir", type=Path, required=True, help="where last.pt is written each epoch")
    parser.add_argument("--export", type=Path, help="also write both generators in float16 here at the end")
    parser.add_argument("--fresh", action="store_true", help="start over; the folder's last.pt is kept as previous.pt")
    parser.add_argument("--max-minutes", type=float, help="stop after the epoch that crosses this many minutes")
    parser.add_argument("--device", help="cpu, cuda, ... (default: COURSE_DEVICE, else CUDA if available)")
    parser.add_argument("--amp", action="store_true", dest="mixed_precision", help="bfloat16 autocast on CUDA")
    parser.add_argument("--channels-last", action="store_true", help="channels-last tensors on CUDA")
    for name in ("crop_size", "ngf", "n_blocks", "ndf", "n_epochs", "n_epochs_decay", "iterations_per_epoch",
                 "batch_size", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, help="override the preset")
    parser.add_argument("--lr", type=float, help="override the preset (default 2e-4)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rank = os.environ.get("RANK", "0")
    try:
        device = get_device() if args.device is None else check_device(args.device, setting="--device")
        return train(args, setup(device), argv)
    except USER_ERRORS as err:
        print(f"error: {err}" if rank == "0" else f"error (rank {rank}): {err}", file=sys.stderr)
        return 2
    finally:
        shutdown()


def train(args: argparse.Namespace, d: Distributed | None = None, argv: list[str] | None = None) -> int:
    d = d if d is not None else Distributed(device=get_device())
    settings = dict(PRESETS[args.preset])
    settings.update({k: v for k, v in vars(args).items() if v is not None and k in CycleGANConfig.__dataclass_fields__})
    config = CycleGANConfig(**settings)   # (--amp and --channels-last are config fields too)
    if args.export is not None and d.is_main:     # found now, not after hours of training
        check_writable(args.export.parent, what="the folder of --export", fix="Pass another --export path.")
    seed_everything(config.seed)
    trainer = CycleGANTrainer(config, monet2photo_root(), device=d.device, checkpoint_dir=args.checkpoint_dir,
                              resume=not args.fresh, distributed=d)
    where = (f"{d.world_size} processes on {d.device.type} (global batch {d.world_size} × {config.batch_size})"
             if d.enabled else str(d.device))
    d.print(f"{args.preset}: {config}\non {where}; starting at epoch {trainer.epoch} of {config.total_epochs}")
    if trainer.epoch >= config.total_epochs:
        d.print(f"{trainer.checkpoint_path} has already trained the whole schedule ({config.total_epochs} epochs): "
                "nothing to train. Raise --n-epochs or --n-epochs-decay to continue it, or use --fresh.")
    start = time.perf_counter()
    while trainer.epoch < config.total_epochs:
        trainer.train(epochs=1)
        means = {k: v[-1] for k, v in trainer.history.epochs.items()}
        d.print(f"epoch {trainer.epoch:3d}: " + ", ".join(f"{k} {v:.3g}" for k, v in means.items()), flush=True)
        # Rank 0's clock decides for everyone, so that all processes stop after the same epoch.
        if d.agree(args.max_minutes is not None and time.perf_counter() - start > 60 * args.max_minutes):
            d.print(f"stopping after {args.max_minutes} minutes; run again to resume from {trainer.checkpoint_path}")
            break
    if args.export is not None and d.is_main:
        iterations = len(next(iter(trainer.history.steps.values()), []))
        listing = {"command": "python scripts/train_cyclegan.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                   "trained": (f"both generators of a CycleGAN at --preset {args.preset} ({config.crop_size} px crops, "
                               f"ngf {config.ngf}, {config.n_blocks} residual blocks, ndf {config.ndf}), "
                               f"{config.n_epochs} epochs at lr {config.lr:g} then {config.n_epochs_decay} of linear "
                               f"decay, {iterations:,} iterations in {trainer.history.seconds / 60:.0f} min on "
                               f"{torch.get_num_threads()} {d.device.type.upper()} thread(s)"
                               + (f" in each of {d.world_size} processes" if d.enabled else "") + "."),
                   "data": (f"monet2photo: {len(trainer.dataset.a):,} Monet paintings, "
                            f"{len(trainer.dataset.b):,} photos")}
        path = trainer.export_generators(args.export, listing=listing, preset=args.preset, iterations=iterations,
                                         seconds=round(trainer.history.seconds), device=str(d.device),
                                         processes=d.world_size, threads=torch.get_num_threads(),
                                         paintings=len(trainer.dataset.a),
                                         photos=len(trainer.dataset.b))
        print(f"generators written to {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
