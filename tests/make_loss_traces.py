#!/usr/bin/env python
"""Record the loss traces of the course's training loops at their ``quick`` settings for the divergence
guard's tests (``tests/test_faults_guard.py``): ``python tests/make_loss_traces.py`` → ``tests/data/loss_traces.json``.

Each run is the notebook's own configuration (models, optimisers, losses, budgets of ``COURSE_MODE=quick``),
built from the package's reference implementations of the students' exercises, on the real data
(``COURSE_DATA_DIR``). Besides the course's runs it records runs at a far too large learning rate, which
the guard must stop. A trace stores the first ``EXACT`` values of each logged quantity as they were and,
after that, the largest magnitude in every block of ``BLOCK`` steps: the guard's decision depends only on
the early level (its first 20 steps) and on the largest magnitude afterwards, so the replay is exact.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.data import load_mnist, load_rgb32, make_loader  # noqa: E402
from course_utils.data.toy2d import ring  # noqa: E402
from course_utils.losses import (clip_weights, d_loss_bce, g_loss_nonsaturating, gradient_penalty,  # noqa: E402
                                 lsgan_d_loss, lsgan_g_loss, wgan_critic_loss, wgan_generator_loss)
from course_utils.models.dcgan import DCDiscriminator, DCGenerator  # noqa: E402
from course_utils.models.gan import MLPDiscriminator, MLPGenerator, gaussian_noise  # noqa: E402
from course_utils.runtime import seed_everything  # noqa: E402
from course_utils.training import (DivergenceError, DivergenceGuard, endless, gan_iteration, train_gan,  # noqa: E402
                                   wgan_iteration)

EXACT, BLOCK = 50, 10
UNGUARDED = dict(factor=float("inf"))   # record everything; NaN/inf still ends a run


def compress(values: list[float]) -> dict:
    head, tail = values[:EXACT], values[EXACT:]
    peaks = [max(tail[i:i + BLOCK], key=abs) for i in range(0, len(tail), BLOCK)]
    return {"head": [float(f"{v:.5g}") for v in head], "peaks": [float(f"{v:.5g}") for v in peaks]}


def run(G, D, opts, batches, iterations, noise, **kwargs) -> tuple[dict, str | None]:
    from course_utils.training import History
    history, stopped = History(), None
    try:
        train_gan(G, D, *opts, batches, iterations=iterations, noise=noise, history=history,
                  guard=DivergenceGuard(**UNGUARDED), mixed_precision=False, **kwargs)
    except DivergenceError as err:
        stopped = str(err)
    return {k: compress(v) for k, v in history.steps.items()}, stopped


def toy_models():
    G = MLPGenerator(2, (2,), hidden=(128, 128), activation="relu", batch_norm=False, tanh_output=False)
    return G, MLPDiscriminator((2,), hidden=(128, 128))


def ring_gan(lr=1e-3, iterations=4000):          # notebook 03's toy GAN, 05's "GAN"
    seed_everything(0)
    G, D = toy_models()
    opts = [torch.optim.Adam(m.parameters(), lr, betas=(0.5, 0.999)) for m in (G, D)]
    return run(G, D, opts, ring().batches(256, seed=0), iterations, gaussian_noise(2),
               d_loss=d_loss_bce, g_loss=g_loss_nonsaturating)


def ring_wgan(variant: str, lr: float | None = None, iterations=4000):   # notebook 05's toy WGANs
    seed_everything(0)
    G, D = toy_models()
    if variant == "clip":
        opts = [torch.optim.RMSprop(m.parameters(), lr or 5e-4) for m in (G, D)]
        step = wgan_iteration(wgan_critic_loss, wgan_generator_loss, clip=0.01, clip_fn=clip_weights)
    else:
        weight = {"gp0.1": 0.1, "gp10": 10.0}[variant]
        opts = [torch.optim.Adam(m.parameters(), lr or 1e-4, betas=(0.5, 0.9)) for m in (G, D)]
        step = wgan_iteration(wgan_critic_loss, wgan_generator_loss,
                              penalty=lambda f, x, fake, w=weight: gradient_penalty(f, x, fake, w))
    return run(G, D, opts, ring().batches(256, seed=0), iterations, gaussian_noise(2), d_loss=None, g_loss=None,
               iteration=step, d_steps=5)


def mnist_gan(iterations=5000):                  # notebook 03's MNIST GAN (its Generator/Discriminator)
    seed_everything(0)
    G = MLPGenerator(100, (1, 28, 28), hidden=(256, 512, 1024))
    D = MLPDiscriminator((1, 28, 28), hidden=(512, 256))
    images = load_mnist(train=True).tensors[0] * 2 - 1
    data = torch.utils.data.TensorDataset(images)
    opts = [torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (G, D)]
    return run(G, D, opts, endless(make_loader(data, 128, seed=0, drop_last=True)), iterations, gaussian_noise(100),
               d_loss=d_loss_bce, g_loss=g_loss_nonsaturating)


def dcgan(lr: float, spectral_norm: bool = True, conv_dim=16, batch=32, iterations=400, d_iters=1):   # notebook 04
    seed_everything(0)
    photos = load_rgb32("photos", train=True)
    G, D = DCGenerator(100, conv_dim, spectral_norm), DCDiscriminator(conv_dim, spectral_norm)
    opts = [torch.optim.Adam(m.parameters(), lr, betas=(0.5, 0.999)) for m in (G, D)]
    return run(G, D, opts, endless(make_loader(photos, batch, seed=0, drop_last=True)), iterations,
               gaussian_noise(100), d_loss=lsgan_d_loss, g_loss=lsgan_g_loss, iteration=gan_iteration, d_steps=d_iters)


def image_wgan(variant: str, iterations=800, lr: float | None = None):   # notebook 05's photos
    seed_everything(0)
    photos = load_rgb32("photos", train=True)
    G = DCGenerator(100, 16)
    if variant == "clip":
        D = DCDiscriminator(16)
        opts = [torch.optim.RMSprop(m.parameters(), lr or 5e-5) for m in (G, D)]
        step = wgan_iteration(wgan_critic_loss, wgan_generator_loss, clip=0.01, clip_fn=clip_weights)
    else:
        D = DCDiscriminator(16, batch_norm=False)
        opts = [torch.optim.Adam(m.parameters(), lr or 1e-4, betas=(0.0, 0.9)) for m in (G, D)]
        step = wgan_iteration(wgan_critic_loss, wgan_generator_loss,
                              penalty=lambda f, x, fake: gradient_penalty(f, x, fake, 10.0))
    return run(G, D, opts, endless(make_loader(photos, 32, seed=0, drop_last=True)), iterations, gaussian_noise(100),
               d_loss=None, g_loss=None, iteration=step, d_steps=5)


RUNS = {   # name: (course run?, thunk)
    "03/05 ring GAN": (True, lambda: ring_gan()),
    "03 MNIST GAN (first 1,000 of 5,000 iterations)": (True, lambda: mnist_gan(1000)),
    "04 DCGAN lr=0.1 (ablation)": (True, lambda: dcgan(0.1)),
    "04 DCGAN lr=0.01 (ablation)": (True, lambda: dcgan(0.01)),
    "04 DCGAN lr=5e-4 (ablation base)": (True, lambda: dcgan(5e-4)),
    "04 DCGAN SN off (ablation)": (True, lambda: dcgan(5e-4, spectral_norm=False)),
    "04 DCGAN d_train_iters=4 (ablation)": (True, lambda: dcgan(5e-4, d_iters=4)),
    "05 ring WGAN clipping": (True, lambda: ring_wgan("clip")),
    "05 ring WGAN-GP lambda=0.1": (True, lambda: ring_wgan("gp0.1")),
    "05 ring WGAN-GP lambda=10": (True, lambda: ring_wgan("gp10")),
    "05 photos WGAN clipping (first 400 of 800 iterations)": (True, lambda: image_wgan("clip", 400)),
    "05 photos WGAN-GP (first 400 of 800 iterations)": (True, lambda: image_wgan("gp", 400)),
    "wild: ring WGAN-GP, Adam lr=1": (False, lambda: ring_wgan("gp10", lr=1.0, iterations=500)),
    "wild: ring GAN, Adam lr=1": (False, lambda: ring_gan(lr=1.0, iterations=500)),
    "wild: DCGAN SN off, Adam lr=1": (False, lambda: dcgan(1.0, spectral_norm=False, iterations=100)),
    "wild: photos WGAN-GP, Adam lr=0.1": (False, lambda: image_wgan("gp", iterations=60, lr=0.1)),
}


def dumps(traces: dict) -> str:
    """JSON with one line per recorded series (readable diffs)."""
    runs = []
    for name, trace in traces.items():
        series = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in trace["steps"].items())
        runs.append(f"  {json.dumps(name)}: {{\"course_run\": {json.dumps(trace['course_run'])}, "
                    f"\"stopped\": {json.dumps(trace['stopped'])}, \"steps\": {{\n{series}}}}}")
    return "{\n" + ",\n".join(runs) + "\n}\n"


def main() -> int:
    torch.set_num_threads(1)
    out = ROOT / "tests" / "data" / "loss_traces.json"
    traces = json.loads(out.read_text()) if out.is_file() else {}
    only = sys.argv[1:]
    for name, (course, thunk) in RUNS.items():
        if only and not any(o in name for o in only):
            continue
        start = time.perf_counter()
        steps, stopped = thunk()
        traces[name] = {"course_run": course, "steps": steps, "stopped": stopped}
        peak = {k: max(map(abs, v["head"] + v["peaks"])) for k, v in steps.items()}
        print(f"{name}: {time.perf_counter() - start:.0f} s, max |value| {peak}, stopped: {stopped}", flush=True)
        out.write_text(dumps(traces))
    return 0


if __name__ == "__main__":
    sys.exit(main())
