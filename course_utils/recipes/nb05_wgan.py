"""Notebook 05's pretrained photo WGANs: notebook 04's DCGAN generator against a critic of the same shape, trained
on the 32×32 photos with weight clipping (Arjovsky et al., 2017, Algorithm 1: RMSprop lr 5e-5, c = 0.01,
n_critic = 5, BatchNorm in the critic) and with the gradient penalty (Gulrajani et al., 2017, Algorithm 1:
Adam lr 1e-4, β = (0, 0.9), λ = 10, n_critic = 5, no BatchNorm in the critic).

One "epoch" is a block of :data:`ITERATIONS_PER_EPOCH` generator updates. After every block the history gets
the iteration, the Fréchet distance in the course's photo features (:func:`~course_utils.metrics.photo_feature_distance`,
notebook 07) and the pixel SWD of samples from fixed noise against the held-out test photos, so that notebook 05
can put the critic's estimate (logged every iteration) beside an independent quality measure without training.
"""

from __future__ import annotations

import torch

from ..data import load_rgb32, make_loader
from ..losses import clip_weights, gradient_penalty, wgan_critic_loss, wgan_generator_loss
from ..metrics import frechet_distance, photo_features, sliced_wasserstein
from ..models.dcgan import DCDiscriminator, DCGenerator
from ..models.gan import gaussian_noise
from ..runs import Recipe, Run
from ..training import endless, train_gan, wgan_iteration

NOISE_SIZE, CONV_DIM, BATCH_SIZE, N_CRITIC = 100, 16, 32, 5     # notebook 05's quick settings
CLIP, CLIP_LR = 0.01, 5e-5
GP_WEIGHT, GP_LR, GP_BETAS = 10.0, 1e-4, (0.0, 0.9)
ITERATIONS_PER_EPOCH = 25                                        # scored every 25 generator updates
EPOCHS = 16                                                      # 400 generator updates, as quick mode
EVAL_SEED = 1

_cache: dict = {}


def _data():
    """Training photos, test photos and their photo features (computed once per process)."""
    if not _cache:
        test = load_rgb32("photos", train=False).tensors[0]
        _cache.update(train=load_rgb32("photos", train=True), test=test, test_features=photo_features(test))
    return _cache


def photo_build(variant: str, device: torch.device | str = "cpu", seed: int = 0):
    """``{"generator", "critic"}`` and their optimisers for ``variant`` ("clipping" | "gp"), seeded."""
    return _build(variant)(device, seed)


def _build(variant: str):
    def build(device: torch.device, seed: int):
        torch.manual_seed(seed)
        G = DCGenerator(NOISE_SIZE, CONV_DIM).to(device)
        D = DCDiscriminator(CONV_DIM, batch_norm=variant == "clipping").to(device)
        if variant == "clipping":
            opts = {"g": torch.optim.RMSprop(G.parameters(), CLIP_LR), "d": torch.optim.RMSprop(D.parameters(), CLIP_LR)}
        else:
            opts = {k: torch.optim.Adam(m.parameters(), GP_LR, betas=GP_BETAS) for k, m in (("g", G), ("d", D))}
        return {"generator": G, "critic": D}, opts
    return build


def score_generator(G: torch.nn.Module, test: torch.Tensor, test_features: torch.Tensor) -> dict[str, float]:
    """FD (photo features) and SWD of ``len(test)`` samples of ``G`` from the fixed evaluation noise."""
    device = next(G.parameters()).device
    z = torch.randn(len(test), NOISE_SIZE, generator=torch.Generator().manual_seed(EVAL_SEED)).to(device)
    was_training = G.training
    G.eval()
    with torch.no_grad():
        samples = G(z).float().cpu()
    G.train(was_training)
    return {"fd": frechet_distance(photo_features(samples), test_features), "swd": sliced_wasserstein(samples, test)}


def photo_log_scores(history, G: torch.nn.Module, iteration: int) -> None:
    """Append the iteration, FD and SWD of :func:`score_generator` to ``history.epochs``."""
    data = _data()
    scores = score_generator(G, data["test"], data["test_features"])
    history.log_epoch({"iteration": float(iteration), "fd": scores["fd"], "swd": scores["swd"]})


def photo_train(variant: str, modules, optimizers, iterations: int, *, history=None, iteration=None,
                every: int = ITERATIONS_PER_EPOCH, seed: int = 0, train_set=None, batch_size: int = BATCH_SIZE,
                desc: str | None = None):
    """Train the photo WGAN ``variant`` ("clipping" | "gp") to ``iterations`` generator updates in blocks of
    ``every``, scoring after each (and at 0 on a fresh history). Block ``k`` draws its data order from
    ``seed + k``. ``iteration``: a WGAN iteration with :func:`~course_utils.training.wgan_iteration`'s signature
    and keywords (notebook 05's own); default the course's."""
    from ..training import History
    G, D = modules["generator"], modules["critic"]
    device = next(G.parameters()).device
    history = history if history is not None else History()
    if not history.epochs:
        photo_log_scores(history, G, 0)
    base = iteration or wgan_iteration_ref
    if variant == "clipping":
        step = lambda *a: base(*a, clip=CLIP)
    else:
        step = lambda *a: base(*a, penalty=lambda f, x, fake: gradient_penalty(f, x, fake, GP_WEIGHT))
    train_set = train_set if train_set is not None else _data()["train"]
    done = history.num_steps
    while done < iterations:
        block = min(every, iterations - done)
        batches = endless(make_loader(train_set, batch_size, seed=seed + done // every, drop_last=True))
        train_gan(G, D, optimizers["g"], optimizers["d"], batches, iterations=block,
                  noise=gaussian_noise(NOISE_SIZE, device=device), d_loss=wgan_critic_loss, g_loss=wgan_generator_loss,
                  iteration=step, d_steps=N_CRITIC, history=history, desc=desc or f"wgan_{variant}_photos")
        done = history.num_steps
        photo_log_scores(history, G, done)
    return history


def _train_epoch(variant: str):
    def train_epoch(run: Run) -> None:
        photo_train(variant, run.modules, run.optimizers, (run.epoch + 1) * ITERATIONS_PER_EPOCH,
                    history=run.history, seed=run.seed)
    return train_epoch


def _describe(variant: str):
    settings = (f"RMSprop lr {CLIP_LR}, weight clipping c = {CLIP}, BatchNorm in the critic" if variant == "clipping"
                else f"Adam lr {GP_LR}, betas {GP_BETAS}, gradient penalty λ = {GP_WEIGHT:g}, no BatchNorm in the critic")

    def describe(run: Run) -> str:
        e = run.history.epochs
        return (f"DCGenerator/DCDiscriminator (conv_dim {CONV_DIM}, noise {NOISE_SIZE}), {run.epoch * ITERATIONS_PER_EPOCH} "
                f"generator updates with n_critic {N_CRITIC} at batch {BATCH_SIZE}, {settings}, seed {run.seed}, in "
                f"{run.history.seconds / 60:.1f} min on {torch.get_num_threads()} CPU thread(s); FD (photo features) "
                f"to the test photos {e['fd'][0]:.2f} (untrained) → {e['fd'][-1]:.2f}.")
    return describe


def _info(run: Run) -> dict:
    e = run.history.epochs
    return {"iterations": run.epoch * ITERATIONS_PER_EPOCH, "conv_dim": CONV_DIM, "fd": e["fd"][-1], "swd": e["swd"][-1],
            "seconds": round(run.history.seconds)}


DATA = "the 32×32 photos of monet2photo (1,020 training photos; scored against the 180 test photos)"
RECIPES = [Recipe(name=f"wgan_{variant}_photos", notebook="05", data=DATA, epochs=EPOCHS, build=_build(variant),
                  train_epoch=_train_epoch(variant), describe=_describe(variant), export=("generator", "critic"),
                  info=_info)
           for variant in ("clipping", "gp")]


# --- the 2-D ring: several seeds (and learning rates) trained together as one Ensemble ------------------------------
# Section 5 and the stability grid of notebook 05, on the ring of eight Gaussians (σ = 0.02, radius 2).
#
# Each recipe trains one loss on three seeds at once (:class:`~course_utils.models.ensemble.Ensemble`: every member
# gets exactly the gradient it would get alone) and, after every block of :data:`RING_ITERATIONS_PER_EPOCH` generator
# updates, logs per member the modes covered and the high-quality share (VEEGAN's measures,
# :func:`~course_utils.metrics.mode_coverage`), the critic's estimate E f(x) − E f(G(z)) and the mean gradient norm of
# the critic on random interpolates (what the penalty constrains) on fixed evaluation batches.
#

RING_SEEDS = (0, 1, 2)
RING_BATCH = 256
RING_ITERATIONS_PER_EPOCH = 400
RING_EPOCHS = 10                                    # 4,000 generator updates (the notebook's section 5)
GRID_EPOCHS = 5                                     # 2,000 generator updates for the stability grid
GRID_LRS = (3e-4, 1e-3, 3e-3)
RING_EVAL = 2000                                    # samples scored per member
SUCCESS_MODES, SUCCESS_HIGH_QUALITY = 7, 0.30       # the grid's definition of a successful run

# loss, learning rate, λ, Adam betas; GAN: notebook 03's settings; clipping: 10 × the paper's RMSprop rate
RING_VARIANTS: dict[str, dict] = {
    "gan": dict(loss="gan", lr=1e-3, label="GAN"),
    "wgan_clipping": dict(loss="clipping", lr=5e-4, label="WGAN (clipping)"),
    "wgan_gp_toy": dict(loss="gp", lr=1e-4, weight=0.1, label="WGAN-GP (λ = 0.1)"),
    "wgan_gp_1": dict(loss="gp", lr=1e-4, weight=1.0, label="WGAN-GP (λ = 1)"),
    "wgan_gp_10": dict(loss="gp", lr=1e-4, weight=10.0, label="WGAN-GP (λ = 10)"),
}


def ring_mixture():
    """The ring of notebooks 03 and 05."""
    from ..data.toy2d import ring
    return ring(num_modes=8, radius=2.0, std=0.02)


def ring_build(loss: str, *, lrs, seeds=RING_SEEDS, g_batch_norm: bool = False, device: torch.device | str = "cpu",
               critic_hidden=(128, 128)):
    """``{"G", "D"}`` Ensembles (one member per ``seeds`` × ``lrs`` pair, seed-major: member ``i`` has seed
    ``seeds[i // len(lrs)]`` and lr ``lrs[i % len(lrs)]``) and their optimisers: Adam β = (0.5, 0.999) for the GAN,
    RMSprop for clipping, Adam β = (0.5, 0.9) for WGAN-GP (Gulrajani et al.'s toy setting). G: 2 → 128 → 128 → 2
    (ReLU, BatchNorm when ``g_batch_norm``), D: 2 → 128 → 128 → 1 (LeakyReLU 0.2), notebook 03's MLPs."""
    from ..models.ensemble import Ensemble, member_groups
    from ..models.gan import MLPDiscriminator, MLPGenerator
    pairs = [(s, lr) for s in seeds for lr in lrs]
    member_seeds = [1000 * s + i for i, (s, _) in enumerate(pairs)] if len(lrs) > 1 else list(seeds)
    G = Ensemble(lambda s: MLPGenerator(2, (2,), hidden=(128, 128), activation="relu", batch_norm=g_batch_norm,
                                        tanh_output=False), member_seeds).to(device)
    D = Ensemble(lambda s: MLPDiscriminator((2,), hidden=critic_hidden), [s + 1 for s in member_seeds]).to(device)
    member_lrs = [lr for _, lr in pairs]
    if loss == "gan":
        make = lambda m: torch.optim.Adam(member_groups(m, lr=member_lrs), betas=(0.5, 0.999))
    elif loss == "clipping":
        make = lambda m: torch.optim.RMSprop(member_groups(m, lr=member_lrs))
    else:
        make = lambda m: torch.optim.Adam(member_groups(m, lr=member_lrs), betas=(0.5, 0.9))
    return {"G": G, "D": D}, {"g": make(G), "d": make(D)}


@torch.no_grad()
def ring_scores(G, D, mixture=None) -> list[dict[str, float]]:
    """Per member of the Ensembles ``G``, ``D``: ``modes`` covered (of 8) and ``high_quality`` share (within 3σ),
    ``reached`` (modes within 10σ), ``estimate`` E f(x) − E f(G(z)) and ``grad_norm`` (mean ‖∇f‖ on random
    interpolates), on fixed noise (seed 0), real points (seed 5) and interpolation weights (seed 6)."""
    from ..metrics import mode_coverage
    from ..models.ensemble import tile_rows
    mixture = mixture or ring_mixture()
    members = len(G)
    device = next(G.parameters()).device
    was = G.training, D.training
    G.eval(), D.eval()
    z = tile_rows(torch.randn(RING_EVAL, 2, generator=torch.Generator().manual_seed(0)), members).to(device)
    real = tile_rows(mixture.sample(RING_EVAL, torch.Generator().manual_seed(5)), members).to(device)
    eps = torch.rand(len(real), 1, generator=torch.Generator().manual_seed(6)).to(device)
    fake = G(z).float()
    with torch.enable_grad():
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat)
    scores = []
    for f, r_s, f_s, g in zip(G.split(fake), D.split(D(real)), D.split(D(fake)), G.split(grad.norm(dim=1))):
        coverage = mode_coverage(f.cpu(), mixture)
        scores.append({"modes": coverage["modes_covered"], "high_quality": coverage["high_quality"],
                       "reached": mode_coverage(f.cpu(), mixture, num_std=10)["modes_covered"],
                       "estimate": float(r_s.mean() - f_s.mean()), "grad_norm": float(g.mean())})
    G.train(was[0]), D.train(was[1])
    return scores


def ring_log_scores(history, G, D, iteration: int) -> None:
    """Append :func:`ring_scores` to ``history.epochs`` as ``iteration`` and ``<score>_<member>``."""
    row = {"iteration": float(iteration)}
    for m, scores in enumerate(ring_scores(G, D)):
        row.update({f"{k}_{m}": float(v) for k, v in scores.items()})
    history.log_epoch(row)


def ring_member_scores(history, member: int, key: str) -> list[float]:
    """One member's logged score over the snapshots (iteration 0 first)."""
    return history.epochs[f"{key}_{member}"]


def ring_train(loss: str, modules, optimizers, iterations: int, *, history=None, iteration=None, weight: float = 0.1,
               n_critic: int = 5, every: int = RING_ITERATIONS_PER_EPOCH, seed: int = 0, desc: str = "ring"):
    """Train the Ensembles for ``iterations`` generator updates, scoring every ``every`` (and at 0 on a fresh
    history). ``iteration``: a WGAN iteration with :func:`~course_utils.training.wgan_iteration`'s signature
    and keywords (``clip``, ``penalty``), e.g. notebook 05's own; the GAN uses :func:`train_gan`'s default
    loop. Batches of :data:`RING_BATCH` real points per member, data order from ``seed`` and the block."""
    from ..losses import d_loss_bce, g_loss_nonsaturating
    from ..models.gan import gaussian_noise
    from ..training import History
    G, D = modules["G"], modules["D"]
    device = next(G.parameters()).device
    history = history if history is not None else History()
    if not history.epochs:
        ring_log_scores(history, G, D, 0)
    mixture = ring_mixture()
    if loss != "gan":
        base = iteration or wgan_iteration_ref
        if loss == "clipping":
            step = lambda *a: base(*a, clip=CLIP)
        else:
            step = lambda *a: base(*a, penalty=lambda f, x, fake: gradient_penalty(f, x, fake, weight))
    done = history.num_steps
    while done < iterations:
        block = min(every, iterations - done)
        batches = mixture.batches(RING_BATCH * len(G), seed=seed * 100_003 + done)
        kwargs = dict(iterations=block, noise=gaussian_noise(2, device=device), desc=desc, history=history,
                      mixed_precision=False)
        if loss == "gan":
            train_gan(G, D, optimizers["g"], optimizers["d"], batches, d_loss=d_loss_bce, g_loss=g_loss_nonsaturating,
                      **kwargs)
        else:
            train_gan(G, D, optimizers["g"], optimizers["d"], batches, d_loss=wgan_critic_loss,
                      g_loss=wgan_generator_loss, iteration=step, d_steps=n_critic, **kwargs)
        done = history.num_steps
        ring_log_scores(history, G, D, done)
    return history


def wgan_iteration_ref(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, n_critic, clip=None, penalty=None):
    """The course's WGAN iteration (:func:`~course_utils.training.wgan_iteration`) with the notebook's signature."""
    return wgan_iteration(d_loss, g_loss, clip=clip, penalty=penalty, clip_fn=clip_weights)(
        G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, n_critic)


def _ring_recipe(name: str, loss: str, *, lrs, g_batch_norm: bool = False, weight: float = 0.1, epochs: int,
                 label: str) -> Recipe:
    def build(device: torch.device, seed: int):
        return ring_build(loss, lrs=lrs, g_batch_norm=g_batch_norm, device=device)

    def train_epoch(run: Run) -> None:
        ring_train(loss, run.modules, run.optimizers, (run.epoch + 1) * RING_ITERATIONS_PER_EPOCH,
                   history=run.history, weight=weight, seed=run.seed, desc=name)

    settings = {"gan": "the non-saturating GAN loss, Adam β = (0.5, 0.999)",
                "clipping": f"WGAN with weight clipping c = {CLIP}, RMSprop",
                "gp": f"WGAN-GP with λ = {weight:g}, Adam β = (0.5, 0.9)"}[loss]

    def describe(run: Run) -> str:
        return (f"{label}: {len(run.modules['G'])} ring GANs trained together (seeds {', '.join(map(str, RING_SEEDS))}"
                f"{' × learning rates ' + ', '.join(f'{lr:g}' for lr in lrs) if len(lrs) > 1 else f', lr {lrs[0]:g}'}), "
                f"{run.epoch * RING_ITERATIONS_PER_EPOCH} generator updates of {settings}"
                f"{', n_critic 5' if loss != 'gan' else ''}, batch {RING_BATCH}, generator MLP 2-128-128-2"
                f"{' with BatchNorm' if g_batch_norm else ''}, in {run.history.seconds / 60:.1f} min on "
                f"{torch.get_num_threads()} CPU thread(s).")

    def info(run: Run) -> dict:
        return {"iterations": run.epoch * RING_ITERATIONS_PER_EPOCH, "members": len(run.modules["G"]),
                "lrs": list(lrs), "seeds": list(RING_SEEDS), "seconds": round(run.history.seconds)}

    return Recipe(name=name, notebook="05", data="the ring of eight Gaussians (σ = 0.02, radius 2), sampled afresh",
                  epochs=epochs, build=build, train_epoch=train_epoch, describe=describe, export=("G",), info=info)


RECIPES += [_ring_recipe(f"ring_{key}", v["loss"], lrs=(v["lr"],), weight=v.get("weight", 0.1), epochs=RING_EPOCHS,
                         label=v["label"]) for key, v in RING_VARIANTS.items()]
RECIPES += [_ring_recipe(f"ring_grid_{loss}{'_bn' if bn else ''}", loss, lrs=GRID_LRS, g_batch_norm=bn, weight=0.1,
                         epochs=GRID_EPOCHS, label=f"{'GAN' if loss == 'gan' else 'WGAN-GP'} grid"
                         f"{', BatchNorm in G' if bn else ''}")
            for loss in ("gan", "gp") for bn in (False, True)]
