#!/usr/bin/env python
"""Time one training iteration of the course's image models and record the results in README.md.

    python scripts/benchmark.py                   # everything, on COURSE_DEVICE (default: CUDA if available)
    python scripts/benchmark.py --only dcgan wgan # a subset
    python scripts/benchmark.py --no-readme       # print only
    python scripts/benchmark.py --profile         # count operators and host syncs per iteration instead
    python scripts/benchmark.py --levers          # time each GPU lever alone at full-mode sizes

Cases: notebook 04's DCGAN (spectral norm, LSGAN, generator + discriminator update) at conv_dim 32 and
64, batch 32; notebook 05's WGAN-GP iteration (5 critic updates with the gradient penalty + 1 generator
update) at the same sizes; notebook 06's full CycleGAN iteration (both generators with cycle and
identity losses, both discriminators with image pools, Adam) at the paper's settings (256 px, ngf 64,
9 blocks, batch 1), at the ``small`` preset of ``scripts/train_cyclegan.py`` (128 px, ngf 32, 6 blocks)
and at notebook 06's ``quick`` settings (64 px, ngf 32, 6 blocks).

On CUDA every case runs three ways: float32, bfloat16 autocast, and bfloat16 autocast with
channels-last tensors, so that the table says what each gained. Results are kept per device in
``benchmarks/results.json``; README's table between the ``benchmark`` markers is rebuilt from that file.
Each time is the median of ``--repeats`` iterations after ``--warmup`` untimed ones.

``--profile`` measures where the time of a small iteration goes without a GPU: with ``torch.profiler``
it counts, per iteration, the ATen operators called (on a GPU nearly each one is a kernel launch of a few
microseconds, so for these small networks the count bounds the iteration time from below), the
operators the Python code called directly (the rest are called by them), and the host syncs
(``float(t)``, ``t.item()``, ``t.tolist()``, ... outside PyTorch's own code: each waits for the device).
It also counts the operators of the levers that cut them: spectral norm's power iteration in D's forward,
Adam's for-loop, ``foreach`` and ``fused`` implementations, and the training loop with its data from a
DataLoader or from the device and its values read every iteration or every 50. Results go to ``benchmarks/results.json`` under
``"profile"`` and to README's table between the ``profile`` markers.

``--levers`` times, at the sizes of the notebooks' ``full`` mode (04: conv_dim 64, batch 128; 05: conv_dim
64, batch 64; 06: the paper's CycleGAN), float32 and each lever alone: fused Adam, TF32 matmuls (convolutions
use TF32 by default already), the whole iteration captured in a CUDA graph (with capturable Adam, and with
fused capturable Adam; not for CycleGAN, whose image pools draw on the host), and ``torch.compile``
(``mode="reduce-overhead"`` on CUDA, which adds CUDA graphs; the default mode on the CPU). A lever that
fails is recorded with its error. Two more act on the training loop and are timed on the loop cases
(``train_gan`` as 03 and 04 run it, 50 iterations per call): the logged values read every 50 iterations
instead of every one, and the batches gathered on the device (``data.device_batches``) instead of by a
DataLoader. Results go under ``"levers"`` and to README's table between the ``levers`` markers. On the
CPU, fused Adam, ``torch.compile`` and the two loop levers run.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_utils.losses import gradient_penalty, lsgan_d_loss, lsgan_g_loss, wgan_critic_loss, wgan_generator_loss  # noqa: E402
from course_utils.models.cyclegan import CycleGAN, ImagePool  # noqa: E402
from course_utils.models.dcgan import DCDiscriminator, DCGenerator  # noqa: E402
from course_utils.runtime import get_device  # noqa: E402
from course_utils.training import _autocast, cyclegan_step, gan_iteration, train_gan, wgan_iteration  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results.json"
README = ROOT / "README.md"
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
PROFILE_START, PROFILE_END = "<!-- profile:start -->", "<!-- profile:end -->"
LEVERS_START, LEVERS_END = "<!-- levers:start -->", "<!-- levers:end -->"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_it(step: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of ``step()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _batches(shape, device, memory_format, fixed: bool = False):
    """Endless fake image batches in [-1, 1], made on ``device``; with ``fixed``, the same batch every time."""
    def batch():
        return torch.rand(*shape, device=device).mul_(2).sub_(1).contiguous(memory_format=memory_format)
    x = batch() if fixed else None
    while True:
        yield (x if fixed else batch(),)


def _dc_pair(conv_dim, device, memory_format, *, wgan: bool, adam: dict | None = None):
    """04's networks (spectral norm, LSGAN optimiser) or 05's (no BatchNorm in the critic, WGAN-GP's Adam);
    ``adam``: extra options of both optimisers (``fused``, ``capturable``)."""
    G = DCGenerator(100, conv_dim, spectral_norm=not wgan).to(device, memory_format=memory_format)
    D = (DCDiscriminator(conv_dim, batch_norm=False) if wgan else DCDiscriminator(conv_dim, spectral_norm=True))
    D = D.to(device, memory_format=memory_format)
    lr, betas = (1e-4, (0.0, 0.9)) if wgan else (2e-4, (0.5, 0.999))
    adam = adam or {}
    return (G, D, torch.optim.Adam(G.parameters(), lr, betas=betas, **adam),
            torch.optim.Adam(D.parameters(), lr, betas=betas, **adam))


def _noise(device, fixed: bool = False):
    """G's inputs for n samples; with ``fixed``, the same noise for each n every time."""
    if not fixed:
        return lambda n: (torch.randn(n, 100, device=device),)
    cache: dict[int, torch.Tensor] = {}
    return lambda n: (cache.setdefault(n, torch.randn(n, 100, device=device)),)


def dcgan_case(conv_dim: int, device, amp: bool, memory_format, *, batch: int = 32, adam: dict | None = None,
               compile_mode: str | None = None, fixed: bool = False) -> Callable[[], None]:
    G, D, opt_g, opt_d = _dc_pair(conv_dim, device, memory_format, wgan=False, adam=adam)
    G, D = _compiled(G, compile_mode), _compiled(D, compile_mode)
    batches, noise = _batches((batch, 3, 32, 32), device, memory_format, fixed), _noise(device, fixed)

    def step():
        with _autocast(device, amp):
            gan_iteration(G, D, opt_g, opt_d, batches, noise, lsgan_d_loss, lsgan_g_loss, 1)
    step.modules = (G, D)
    return step


def wgan_gp_case(conv_dim: int, device, amp: bool, memory_format, *, batch: int = 32, adam: dict | None = None,
                 compile_mode: str | None = None, fixed: bool = False) -> Callable[[], None]:
    G, D, opt_g, opt_d = _dc_pair(conv_dim, device, memory_format, wgan=True, adam=adam)
    G, D = _compiled(G, compile_mode), _compiled(D, compile_mode)
    iteration = wgan_iteration(wgan_critic_loss, wgan_generator_loss, penalty=gradient_penalty)
    batches, noise = _batches((batch, 3, 32, 32), device, memory_format, fixed), _noise(device, fixed)

    def step():
        with _autocast(device, amp):
            iteration(G, D, opt_g, opt_d, batches, noise, None, None, 5)
    step.modules = (G, D)
    return step


def cyclegan_case(size: int, ngf: int, n_blocks: int, ndf: int, device, amp: bool, memory_format, *,
                  adam: dict | None = None, compile_mode: str | None = None, fixed: bool = True) -> Callable[[], None]:
    """06's iteration on one pair of images (always the same pair: ``fixed`` is accepted for a uniform
    signature)."""
    model = CycleGAN(ngf, n_blocks, ndf).to(device, memory_format=memory_format)
    opt_g = torch.optim.Adam(model.generators(), 2e-4, betas=(0.5, 0.999), **(adam or {}))
    opt_d = torch.optim.Adam(model.discriminators(), 2e-4, betas=(0.5, 0.999), **(adam or {}))
    for name in ("G_AB", "G_BA", "D_A", "D_B"):   # the same parameters, called through the compiled module
        setattr(model, name, _compiled(getattr(model, name), compile_mode))
    pools = ImagePool(50), ImagePool(50)
    a = torch.rand(1, 3, size, size, device=device).contiguous(memory_format=memory_format)
    b = torch.rand(1, 3, size, size, device=device).contiguous(memory_format=memory_format)

    def step():
        with _autocast(device, amp):
            cyclegan_step(model, opt_g, opt_d, a, b, *pools)
    step.modules = (model,)
    return step


LOOP_ITERATIONS = 50   # iterations per timed call of a loop case (so that `sync_every` can act within it)


def loop_case(model: str, device, *, conv_dim: int = 64, batch: int = 128, adam: dict | None = None,
              compile_mode: str | None = None, fixed: bool = False, sync_every: int = 1,
              resident: bool = False, samples: int | None = None) -> Callable[[], None]:
    """``LOOP_ITERATIONS`` iterations of ``train_gan`` as the notebooks run it, real batches included:
    ``model`` = ``"mlp"`` (03's MLP GAN on 60,000 MNIST-sized images, BCE) or ``"dcgan"`` (04's DCGAN with
    spectral norm on 1,020 32×32 photos, LSGAN). The batches come from a DataLoader over CPU tensors,
    copied to the device each step, or with ``resident`` from :func:`~course_utils.data.device_batches`;
    ``sync_every``: train_gan's. Random tensors stand in for the data (the time does not depend on it);
    ``fixed`` is accepted for a uniform signature (the batches are those of a seeded DataLoader);
    ``samples`` replaces the dataset's size (a small test)."""
    from course_utils.data import device_batches, make_loader
    from course_utils.losses import d_loss_bce, g_loss_nonsaturating
    from course_utils.models.gan import MLPDiscriminator, MLPGenerator, gaussian_noise
    from course_utils.training import endless

    generator = torch.Generator().manual_seed(0)
    if model == "mlp":
        G = MLPGenerator(100, (1, 28, 28), hidden=(256, 512, 1024)).to(device)
        D = MLPDiscriminator((1, 28, 28), hidden=(512, 256)).to(device)
        data = torch.rand(samples or 60_000, 1, 28, 28, generator=generator) * 2 - 1
        d_loss, g_loss, iteration = d_loss_bce, g_loss_nonsaturating, None
        opt_g, opt_d = (torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999), **(adam or {})) for m in (G, D))
    else:
        G, D, opt_g, opt_d = _dc_pair(conv_dim, device, torch.contiguous_format, wgan=False, adam=adam)
        data = torch.rand(samples or 1020, 3, 32, 32, generator=generator) * 2 - 1
        d_loss, g_loss, iteration = lsgan_d_loss, lsgan_g_loss, gan_iteration
    G, D = _compiled(G, compile_mode), _compiled(D, compile_mode)
    dataset = torch.utils.data.TensorDataset(data)
    batches = (device_batches(dataset, batch, device=device, drop_last=True) if resident
               else endless(make_loader(dataset, batch, drop_last=True)))
    noise = gaussian_noise(100, device=device)

    def step():
        train_gan(G, D, opt_g, opt_d, batches, iterations=LOOP_ITERATIONS, noise=noise, d_loss=d_loss,
                  g_loss=g_loss, iteration=iteration, mixed_precision=False, desc="benchmark",
                  sync_every=sync_every)
    step.modules, step.iterations = (G, D), LOOP_ITERATIONS
    return step


def _compiled(module: torch.nn.Module, mode: str | None) -> torch.nn.Module:
    """``torch.compile(module, mode=mode)`` (the same parameters), or ``module`` if ``mode`` is None;
    ``"default"`` means torch.compile's default mode."""
    if mode is None:
        return module
    return torch.compile(module, mode=None if mode == "default" else mode)


def cuda_graphed(step: Callable[[], None], device: torch.device, warmup: int = 3) -> Callable[[], None]:
    """``step`` captured once in a CUDA graph; the returned function replays it (PyTorch's "whole network
    capture": warm-up calls on a side stream, then one captured call). Every tensor ``step`` makes is
    re-made by each replay at the same address, random numbers included (fresh ones each replay); the
    optimisers must be built with ``capturable=True``. A step whose control flow depends on host state
    (CycleGAN's image pools draw on Python's RNG) cannot be captured."""
    if device.type != "cuda":
        raise RuntimeError("CUDA graphs need a CUDA device")
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):   # records the kernels without running them: `warmup` steps have run
        step()

    def replay():
        graph.replay()
    replay.modules, replay.steps_run = getattr(step, "modules", ()), warmup
    return replay


CASES = {
    "dcgan": [("04 DCGAN+SN, conv_dim 32, batch 32", lambda *a: dcgan_case(32, *a)),
              ("04 DCGAN+SN, conv_dim 64, batch 32", lambda *a: dcgan_case(64, *a))],
    "wgan": [("05 WGAN-GP (5 critic + 1 G), conv_dim 32, batch 32", lambda *a: wgan_gp_case(32, *a)),
             ("05 WGAN-GP (5 critic + 1 G), conv_dim 64, batch 32", lambda *a: wgan_gp_case(64, *a))],
    "cyclegan": [("06 CycleGAN paper: 256 px, ngf 64, 9 blocks, batch 1", lambda *a: cyclegan_case(256, 64, 9, 64, *a)),
                 ("06 CycleGAN small preset: 128 px, ngf 32, 6 blocks", lambda *a: cyclegan_case(128, 32, 6, 32, *a)),
                 ("06 CycleGAN quick: 64 px, ngf 32, 6 blocks", lambda *a: cyclegan_case(64, 32, 6, 32, *a))],
}


# The levers of a GPU iteration, each timed alone against float32 at the sizes of the notebooks' `full` mode
# (04: conv_dim 64, batch 128; 05: conv_dim 64, batch 64; 06: the paper's 256 px, batch 1).
# (case, builder(device, **options), whether the step can be captured in a CUDA graph)
LEVER_CASES = [
    ("04 DCGAN+SN, conv_dim 64, batch 128",
     lambda device, conv_dim=64, batch=128, **o: dcgan_case(conv_dim, device, False, torch.contiguous_format,
                                                          batch=batch, **o), True),
    ("05 WGAN-GP (5 critic + 1 G), conv_dim 64, batch 64",
     lambda device, conv_dim=64, batch=64, **o: wgan_gp_case(conv_dim, device, False, torch.contiguous_format,
                                                           batch=batch, **o), True),
    ("06 CycleGAN paper: 256 px, ngf 64, 9 blocks, batch 1",
     lambda device, **o: cyclegan_case(256, 64, 9, 64, device, False, torch.contiguous_format, **o), False),
    ("03 loop: train_gan, MLP GAN on MNIST-sized data, batch 128", lambda device, **o: loop_case("mlp", device, **o),
     False),
    ("04 loop: train_gan + gan_iteration on 1,020 photos, conv_dim 64, batch 128",
     lambda device, **o: loop_case("dcgan", device, **o), False),
]
LOOPS = {case for case, _, _ in LEVER_CASES if " loop: " in case}
# lever -> (options of the case builder, wrap the step in a CUDA graph, TF32 matmuls, CUDA only);
# the last two act on the training loop and apply only to the loop cases
LEVERS = {
    "float32": ({}, False, False, False),
    "fused Adam": ({"adam": {"fused": True}}, False, False, False),
    "TF32 matmuls": ({}, False, True, True),
    "CUDA graph": ({"adam": {"capturable": True}}, True, False, True),
    "CUDA graph + fused Adam": ({"adam": {"fused": True, "capturable": True}}, True, False, True),
    "torch.compile": ({"compile_mode": "compile"}, False, False, False),
    "values read every 50 iterations": ({"sync_every": 50}, False, False, False),
    "data on the device": ({"resident": True}, False, False, False),
}
LOOP_LEVERS = {"values read every 50 iterations", "data on the device"}


def why_not(case: str, lever: str, device: torch.device) -> str | None:
    """Why ``lever`` cannot apply to ``case`` on ``device``, or None if it can."""
    graphable = next(g for name, _, g in LEVER_CASES if name == case)
    _, graph, _, cuda_only = LEVERS[lever]
    if cuda_only and device.type != "cuda":
        return f"{lever} needs a CUDA device"
    if graph and not graphable:
        return (f"{case}: its step depends on host state (CycleGAN's image pools; a training loop's data loading "
                "and logging), so it cannot be captured in a CUDA graph")
    if lever in LOOP_LEVERS and case not in LOOPS:
        return f"{lever} acts on the training loop: only the loop cases have one"
    return None


def lever_step(case: str, lever: str, device: torch.device, *, fixed: bool = False, **overrides) -> Callable[[], None]:
    """The iteration of ``case`` (a name in LEVER_CASES) with ``lever`` (a name in LEVERS) applied, ready to
    call; ``step.modules`` holds its networks. ``fixed``: the same real batch and noise every call (to compare
    levers' results); ``overrides`` replace the DCGAN and WGAN-GP cases' ``conv_dim`` and ``batch`` (a small
    test). A CUDA-graphed step has run its warm-up steps already (``step.steps_run``)."""
    reason = why_not(case, lever, device)
    if reason is not None:
        raise RuntimeError(reason)
    build = next(b for name, b, _ in LEVER_CASES if name == case)
    options, graph, _, _ = LEVERS[lever]
    options = dict(options)
    if options.get("compile_mode") == "compile":   # CUDA graphs through torch.compile on a GPU
        options["compile_mode"] = "reduce-overhead" if device.type == "cuda" else "default"
    step = build(device, fixed=fixed, **options, **overrides)
    return cuda_graphed(step, device) if graph else step


def run_levers(levers: list[str], device: torch.device, warmup: int, repeats: int) -> dict[str, dict]:
    """Median seconds per iteration of each LEVER_CASES case with each lever that applies on ``device``;
    a lever that fails is recorded as the error's first line instead of a time."""
    results: dict[str, dict] = {}
    for case, _, _ in LEVER_CASES:
        results[case] = {}
        for lever in levers:
            if why_not(case, lever, device) is not None:
                continue
            tf32 = LEVERS[lever][2]
            slow = "256 px" in case and device.type == "cpu"
            previous = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32 or previous
            torch.manual_seed(0)
            try:
                step = lever_step(case, lever, device)
                seconds = time_it(step, device, 1 if slow or case in LOOPS else warmup,
                                  max(2, repeats // 2) if slow or case in LOOPS else repeats)
                seconds /= getattr(step, "iterations", 1)
                results[case][lever] = seconds
                print(f"{case:55} {lever:24} {seconds * 1000:10.1f} ms/iteration", flush=True)
            except Exception as error:  # noqa: BLE001 - a lever that does not work here is a result too
                message = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
                results[case][lever] = f"failed: {type(error).__name__}: {message}"
                print(f"{case:55} {lever:24} {results[case][lever]}", flush=True)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = previous
                torch._dynamo.reset()
    return results


def lever_table(all_results: dict[str, dict]) -> str:
    levers = [lever for lever in LEVERS if any(lever in times for entry in all_results.values()
                                                 for times in entry.get("levers", {}).values())]
    lines = ["| device | case | " + " | ".join(levers) + " |", "|---|---|" + "---:|" * len(levers)]

    def fmt(value):
        if value is None:
            return ""
        if isinstance(value, str):   # "failed: <error type>: <message>" -> "failed: <error type>"
            return ": ".join(value.split(": ")[:2])
        return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"
    for device, entry in all_results.items():
        for case, times in entry.get("levers", {}).items():
            lines.append(f"| {device} | {case} | " + " | ".join(fmt(times.get(lever)) for lever in levers) + " |")
    return "\n".join(lines)


class HostReads:
    """Counts, while active, the reads of a tensor's values into Python made outside PyTorch's own code:
    ``t.item()``, ``float(t)``, ``int(t)``, ``bool(t)`` and ``t.tolist()``. On a GPU each is a host sync
    (the host waits for the device to finish everything queued). PyTorch's own reads are left out: the
    optimisers' step counters and the DataLoader's shuffling live on the CPU, so they wait for nothing.
    Counting the calls (rather than profiler events) also sees ``tolist``, which the CPU profiler does not."""

    METHODS = ("item", "tolist", "__float__", "__int__", "__bool__")

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> "HostReads":
        self._saved = {name: getattr(torch.Tensor, name) for name in self.METHODS}
        for name, method in self._saved.items():
            setattr(torch.Tensor, name, self._counting(method))
        return self

    def __exit__(self, *exc) -> None:
        for name, method in self._saved.items():
            setattr(torch.Tensor, name, method)

    def _counting(self, method):
        def read(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller != "torch" and not caller.startswith("torch."):
                self.count += 1
            return method(tensor, *args, **kwargs)
        return read


def count_ops(step: Callable[[], None], iterations: int = 3) -> dict[str, float]:
    """Per-call counts of ``step()`` over ``iterations`` calls after one uncounted call: ATen operators
    (all, and those called from Python directly), measured with ``torch.profiler``, and host syncs
    (:class:`HostReads`)."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof, HostReads() as reads:
        for _ in range(iterations):
            step()
    aten = [e for e in prof.events() if e.name.startswith("aten::")]
    return {"aten ops": len(aten) / iterations,
            "ops called from Python": sum(e.cpu_parent is None for e in aten) / iterations,
            "host syncs": reads.count / iterations}


def _loop_case(device) -> Callable[[], None]:
    """Notebook 04's training loop as the notebook runs it: ``train_gan`` with ``gan_iteration``, one
    iteration per call (its per-iteration logging included)."""
    G, D, opt_g, opt_d = _dc_pair(32, device, torch.contiguous_format, wgan=False)
    batches = _batches((32, 3, 32, 32), device, torch.contiguous_format)

    def step():
        train_gan(G, D, opt_g, opt_d, batches, iterations=1, noise=_noise(device), d_loss=lsgan_d_loss,
                  g_loss=lsgan_g_loss, iteration=gan_iteration, desc="profile")
    return step


def _adam_case(device, **options) -> Callable[[], None]:
    G, D = DCGenerator(100, 32, spectral_norm=True).to(device), DCDiscriminator(32, spectral_norm=True).to(device)
    params = list(G.parameters()) + list(D.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer = torch.optim.Adam(params, 2e-4, betas=(0.5, 0.999), **options)
    return optimizer.step


def _d_forward_case(device, spectral_norm: bool) -> Callable[[], None]:
    D = DCDiscriminator(32, spectral_norm=spectral_norm).to(device)
    x = torch.rand(32, 3, 32, 32, device=device)
    return lambda: D(x)


def profile_all(device: torch.device) -> dict[str, dict[str, float]]:
    """Operator and sync counts of each case at float32, and of the levers."""
    cases: list[tuple[str, Callable[[], Callable[[], None]]]] = [
        (name, lambda make=make: make(device, False, torch.contiguous_format))
        for group in CASES.values() for name, make in group]
    cases += [("04 loop: train_gan + gan_iteration, conv_dim 32, batch 32", lambda: _loop_case(device)),
              ("04 D forward, conv_dim 32, no spectral norm", lambda: _d_forward_case(device, False)),
              ("04 D forward, conv_dim 32, spectral norm", lambda: _d_forward_case(device, True)),
              ("04 Adam step on G+D (28 tensors), for-loop", lambda: _adam_case(device, foreach=False)),
              ("04 Adam step on G+D (28 tensors), foreach", lambda: _adam_case(device, foreach=True)),
              ("04 Adam step on G+D (28 tensors), fused", lambda: _adam_case(device, fused=True))]
    for model, label in (("mlp", "03 loop: MLP GAN, batch 128"), ("dcgan", "04 loop: DCGAN+SN, batch 128")):
        sizes = {"conv_dim": 8} if model == "dcgan" else {}   # (the counts do not depend on the width)
        cases += [(f"{label}, DataLoader", lambda model=model, sizes=sizes: loop_case(model, device, **sizes)),
                  (f"{label}, data on the device",
                   lambda model=model, sizes=sizes: loop_case(model, device, resident=True, **sizes)),
                  (f"{label}, data on the device, values read every 50 iterations",
                   lambda model=model, sizes=sizes: loop_case(model, device, resident=True, sync_every=50, **sizes))]
    results = {}
    for name, make in cases:
        torch.manual_seed(0)
        step = make()
        counts = count_ops(step)
        results[name] = counts = {k: v / getattr(step, "iterations", 1) for k, v in counts.items()}
        print(f"{name:60} {counts['aten ops']:7.0f} ops {counts['ops called from Python']:6.0f} from Python "
              f"{counts['host syncs']:.2g} syncs", flush=True)
    return results


def profile_table(all_results: dict[str, dict]) -> str:
    lines = ["| case | ATen ops / iteration | called from Python | host syncs |", "|---|---:|---:|---:|"]
    seen = set()
    for device, entry in all_results.items():
        for case, c in entry.get("profile", {}).items():
            if case not in seen:  # the counts do not depend on the device: one row per case
                seen.add(case)
                lines.append(f"| {case} | {c['aten ops']:.0f} | {c['ops called from Python']:.0f} | "
                             f"{c['host syncs']:.2g} |")
    return "\n".join(lines)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    return f"CPU {platform.machine()}, {torch.get_num_threads()} threads (torch {torch.__version__})"


def run(only: list[str], device: torch.device, warmup: int, repeats: int) -> dict[str, dict[str, float]]:
    variants = {"float32": (False, torch.contiguous_format)}
    if device.type == "cuda":
        variants.update({"bf16 autocast": (True, torch.contiguous_format),
                         "bf16 + channels-last": (True, torch.channels_last)})
    results: dict[str, dict[str, float]] = {}
    for group in only:
        for name, make in CASES[group]:
            results[name] = {}
            for variant, (amp, memory_format) in variants.items():
                torch.manual_seed(0)
                slow = "256 px" in name and device.type == "cpu"
                seconds = time_it(make(device, amp, memory_format), device, 1 if slow else warmup,
                                  max(2, repeats // 2) if slow else repeats)
                results[name][variant] = seconds
                print(f"{name:55} {variant:22} {seconds * 1000:10.1f} ms/iteration", flush=True)
    return results


def table(all_results: dict[str, dict]) -> str:
    lines = ["| device | case | float32 | bf16 autocast | bf16 + channels-last |", "|---|---|---:|---:|---:|"]

    def fmt(value):
        return "" if value is None else (f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms")
    for device, entry in all_results.items():
        for case, times in entry["cases"].items():
            lines.append(f"| {device} | {case} | {fmt(times.get('float32'))} | {fmt(times.get('bf16 autocast'))} | "
                         f"{fmt(times.get('bf16 + channels-last'))} |")
    return "\n".join(lines)


def write_readme(all_results: dict[str, dict]) -> None:
    text = README.read_text()
    for start, end, render in ((START, END, table), (PROFILE_START, PROFILE_END, profile_table),
                               (LEVERS_START, LEVERS_END, lever_table)):
        if start not in text or end not in text:
            raise SystemExit(f"README.md has no {start} ... {end} markers; add them where the table belongs.")
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: start + "\n" + render(all_results) + "\n" + end,
                      text, flags=re.S)
    README.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--device", help="cpu, cuda, ... (default: COURSE_DEVICE, else CUDA if available)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-readme", action="store_true", help="print the times, change no file")
    parser.add_argument("--profile", action="store_true",
                        help="count operators and host syncs per iteration (torch.profiler) instead of timing")
    parser.add_argument("--levers", nargs="*", choices=list(LEVERS), metavar="LEVER",
                        help="time the GPU levers instead, each alone at full-mode sizes (default: all that apply "
                             f"on the device; choices: {', '.join(LEVERS)})")
    args = parser.parse_args(argv)
    device = torch.device(args.device) if args.device else get_device()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.levers is not None:
        kind, results = "levers", run_levers(args.levers or list(LEVERS), device, args.warmup, args.repeats)
    elif args.profile:
        kind, results = "profile", profile_all(device)
    else:
        kind, results = "cases", run(args.only, device, args.warmup, args.repeats)
    if args.no_readme:
        return 0
    all_results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    entry = all_results.setdefault(device_name(device), {"cases": {}})
    if kind == "levers":   # a rerun of some levers keeps the others' times
        for case, values in results.items():
            entry.setdefault("levers", {}).setdefault(case, {}).update(values)
    else:
        entry.setdefault(kind, {}).update(results)
    entry["measured"] = time.strftime("%Y-%m-%d")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(all_results, indent=1, ensure_ascii=False) + "\n")
    write_readme(all_results)
    print(f"wrote {RESULTS.relative_to(ROOT)} and the table in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
