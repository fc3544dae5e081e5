"""Data-parallel CycleGAN training (course_utils.distributed, torchrun, gloo) and its lean checkpoint.

Two gloo processes at batch 1 must train as one process at batch 2: the losses are means of per-image
terms of equal size and InstanceNorm normalises each image alone, so DDP's averaged gradient is the
batch-2 gradient, and :class:`IndexShards` / :class:`SeededItems` / :class:`GatheredPool` give both runs
the same images, crops, pairings and pool. What is compared are the weights that act on the outputs:
the bias of a convolution followed by InstanceNorm is removed by the normalisation (its exact gradient
is zero), and Adam turns the rounding noise of that zero into steps of ±lr, differently in each run.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from course_utils.checkpoints import CheckpointError
from course_utils.cyclegan_trainer import PREVIEW_SNAPSHOTS, CycleGANConfig, CycleGANTrainer, preview_epochs
from course_utils.distributed import Distributed, GatheredPool, IndexShards, SeededItems, item_seed, parallel_view
from course_utils.models.cyclegan import CycleGAN, ImagePool
from conftest import tiny_monet2photo

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(crop_size=32, ngf=4, n_blocks=1, ndf=4, n_epochs=1, n_epochs_decay=1, iterations_per_epoch=3)
TIMEOUT = 240


@pytest.fixture(scope="module")
def monet(tmp_path_factory):
    """A tiny monet2photo: 6 training and 3 test images per domain, 40×44 pixels."""
    data = tmp_path_factory.mktemp("data")
    return tiny_monet2photo(data)


@pytest.fixture(scope="module")
def one_process_batch_two(monet, tmp_path_factory):
    """The reference: one process, batch 2, two epochs without a break."""
    trainer = CycleGANTrainer(CycleGANConfig(**TINY, batch_size=2), monet,
                              checkpoint_dir=tmp_path_factory.mktemp("single"))
    trainer.train()
    return torch.load(trainer.checkpoint_path, weights_only=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def normalised_biases(model: nn.Module) -> set[str]:
    """Names of the biases of convolutions directly followed by InstanceNorm (no effect on any output)."""
    names = set()
    for prefix, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (name, layer), (_, following) in zip(children, children[1:]):
                if (isinstance(layer, nn.modules.conv._ConvNd) and layer.bias is not None
                        and isinstance(following, nn.InstanceNorm2d)):
                    names.add(f"{prefix}.{name}.bias" if prefix else f"{name}.bias")
    return names


def assert_same_training(parallel: dict, single: dict) -> None:
    """Same schedule, losses, live weights (relative to how far training moved them) and pools."""
    assert parallel["epoch"] == single["epoch"] == 2 and parallel["world_size"] == 2 and single["world_size"] == 1
    for key in single["history"]["steps"]:
        assert parallel["history"]["steps"][key] == pytest.approx(single["history"]["steps"][key], rel=1e-4, abs=1e-6)
    torch.manual_seed(TINY.get("seed", 0))
    model = CycleGAN(TINY["ngf"], TINY["n_blocks"], TINY["ndf"])          # the trainers' initial weights
    start, skip = model.state_dict(), normalised_biases(model)
    assert len(skip) == 20                                                  # 7 per generator, 3 per discriminator
    for net in ("G_AB", "G_BA", "D_A", "D_B"):
        keys = [k for k in start if k.startswith(net) and k not in skip]
        moved_p = torch.cat([(parallel["model"][k] - start[k]).flatten() for k in keys])
        moved_s = torch.cat([(single["model"][k] - start[k]).flatten() for k in keys])
        assert (moved_p - moved_s).norm() < 0.03 * moved_s.norm(), net
    for images_p, images_s in zip(parallel["pools"], single["pools"]):
        assert len(images_p) == len(images_s) == 12                        # 6 iterations × 2 images
        assert max((p - s).abs().max().item() for p, s in zip(images_p, images_s)) < 1e-2


def _worker(rank: int, port: int, root: str, folder: str) -> None:
    """One of two gloo processes: one epoch, then a new trainer resumes from last.pt and trains the second."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from course_utils import distributed
    torch.set_num_threads(1)
    try:
        d = distributed.setup("cpu")
        first = CycleGANTrainer(CycleGANConfig(**TINY), Path(root), checkpoint_dir=Path(folder), distributed=d)
        first.train(epochs=1)
        del first                                                            # as after a crash
        resumed = CycleGANTrainer(CycleGANConfig(**TINY), Path(root), checkpoint_dir=Path(folder), distributed=d)
        assert resumed.epoch == 1 and resumed.sampler.rank == rank
        resumed.train()
    finally:
        distributed.shutdown()


def test_two_gloo_processes_resumed_train_as_one_process_at_batch_two(monet, one_process_batch_two, tmp_path):
    folder = tmp_path / "ddp"
    context = multiprocessing.get_context("fork")       # the children start with torch already imported
    port = _free_port()
    workers = [context.Process(target=_worker, args=(rank, port, str(monet), str(folder))) for rank in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(TIMEOUT)
    for w in workers:
        if w.is_alive():
            w.kill()
    assert [w.exitcode for w in workers] == [0, 0]
    parallel = torch.load(folder / "last.pt", weights_only=True)
    assert len(parallel["rank_rng"]) == 2
    assert_same_training(parallel, one_process_batch_two)


def test_torchrun_runs_the_training_script_on_two_cpu_processes(monet, one_process_batch_two, tmp_path):
    env = {**os.environ, "COURSE_DATA_DIR": str(monet.parent), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "scripts" / "train_cyclegan.py"), "--preset", "smoke", "--checkpoint-dir", str(tmp_path),
               "--device", "cpu", *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("epoch   2:") == 1                               # rank 0 alone prints
    assert "2 processes on cpu (global batch 2 × 1)" in result.stdout
    assert_same_training(torch.load(tmp_path / "last.pt", weights_only=True), one_process_batch_two)
    with pytest.raises(CheckpointError, match=r"trained by 2 process\(es\).*torchrun --nproc_per_node=2"):
        CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path)   # one process cannot resume it


# --- the pieces, in one process ------------------------------------------------------------------------------

def test_index_shards_cut_each_global_batch_in_rank_order():
    one = IndexShards(10, 4, seed=3)
    ranks = [IndexShards(10, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    for epoch in (0, 1):
        for s in (one, *ranks):
            s.set_epoch(epoch)
        whole = one.indices()
        assert len(whole) == 8 and len(set(whole)) == 8                          # 2 global batches, tail dropped
        for k in range(2):
            shares = [r.indices()[2 * k: 2 * k + 2] for r in ranks]
            assert whole[4 * k: 4 * k + 4] == shares[0] + shares[1]
        assert list(ranks[1]) == [(epoch, i) for i in ranks[1].indices()]
    one.set_epoch(0)
    first = one.indices()
    one.set_epoch(1)
    assert one.indices() != first                                                 # a new order every epoch
    assert IndexShards(6, 2, shuffle=False, rank=1, world_size=3).indices() == [2, 3]
    with pytest.raises(ValueError, match="cannot fill one global batch"):
        IndexShards(3, 2, world_size=2)


class _Noisy(torch.utils.data.Dataset):
    """Items drawn from torch's generator and from the dataset's own random.Random."""

    def __init__(self):
        import random
        self.random = random.Random(0)

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return torch.rand(()).item(), self.random.random()


def test_seeded_items_depend_on_seed_epoch_and_index_only():
    items = SeededItems(_Noisy(), seed=7)
    torch.manual_seed(0)
    outside = torch.get_rng_state()
    a = items[(1, 2)]
    assert torch.equal(torch.get_rng_state(), outside)                           # the global generator untouched
    items[(0, 4)]
    assert items[(1, 2)] == a                                                     # whatever was read in between
    assert items[(2, 2)] != a and items[(1, 3)] != a and SeededItems(_Noisy(), seed=8)[(1, 2)] != a
    assert item_seed(1, 2, 3) != item_seed(1, 3, 2)


def test_one_process_is_the_plain_model_and_pool():
    d = Distributed()
    model, pool = CycleGAN(4, 1, 4), ImagePool(2)
    assert parallel_view(model, ["G_AB"], d) is model and not d.enabled and d.is_main
    x = torch.randn(3, 3, 8, 8)
    assert torch.equal(GatheredPool(pool, d).query(x), x) and len(pool.images) == 2
    assert d.gather(5) == [5] and d.agree(True) and torch.equal(d.mean(x), x)


# --- the lean checkpoint -----------------------------------------------------------------------------------

def test_preview_keeps_a_bounded_set_that_a_resumed_run_also_keeps():
    before = preview_epochs(0)
    for epoch in range(1, 300):
        kept = preview_epochs(epoch)
        assert len(kept) <= PREVIEW_SNAPSHOTS and {0, epoch} <= kept and kept <= before | {epoch}
        before = kept
    assert preview_epochs(5) == set(range(6))
    assert sorted(preview_epochs(200)) == [0, 32, 64, 96, 128, 160, 192, 200]


def test_checkpoint_holds_at_most_eight_uint8_snapshots(monet, tmp_path):
    config = CycleGANConfig(**{**TINY, "n_epochs": 10, "n_epochs_decay": 0, "iterations_per_epoch": 1})
    trainer = CycleGANTrainer(config, monet, checkpoint_dir=tmp_path)
    trainer.train()
    assert [e for e, _ in trainer.history.snapshots] == [0, 2, 4, 6, 8, 10]
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    snapshots = state["history"]["snapshots"]
    assert [e for e, _ in snapshots] == [0, 2, 4, 6, 8, 10]
    assert all(v.dtype == torch.uint8 for _, s in snapshots for v in s.values())
    assert "loader_rng" not in state                                  # the data order follows from the epoch
    resumed = CycleGANTrainer(config, monet, checkpoint_dir=tmp_path)
    for (_, a), (_, b) in zip(trainer.history.snapshots, resumed.history.snapshots):
        for key in a:
            torch.testing.assert_close(b[key], a[key], atol=1 / 127.5, rtol=0)   # 8-bit images, float again
    assert (tmp_path / "last.pt").stat().st_size < trainer.checkpoint_bytes()


def test_modules_import_alone_without_cycles():
    """data/images.py and data/monet2photo.py each import in a fresh interpreter on its own, and no module of
    course_utils/data imports another at module level in a cycle."""
    import ast
    folder = ROOT / "course_utils" / "data"
    graph = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {alias.name if node.module is None else node.module.split(".")[0]
                            for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1
                            for alias in node.names}
    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in graph.get(start, ()))
    assert not [m for m in graph if reaches(m, m)], graph
    code = "import importlib, sys; importlib.import_module(sys.argv[1])"
    for module in ("course_utils.data.images", "course_utils.data.monet2photo"):
        result = subprocess.run([sys.executable, "-c", code, module], cwd=ROOT, capture_output=True, text=True,
                                timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, f"{module}: {result.stderr[-1500:]}"


def test_runs_in_one_process_are_unchanged_and_other_recipes_refuse_torchrun():
    from course_utils.runs import Recipe, Run, run_recipe
    net = nn.Linear(2, 1)
    run = Run({"net": net}, {})
    data = torch.utils.data.TensorDataset(torch.zeros(6, 2))
    assert run.parallel("net") is net and run.shard(data, 2) is data
    run.check_in_step()                                                  # nothing to compare in one process
    recipe = Recipe(name="toy", notebook="00", data="none", epochs=1, build=lambda device, seed: ({"net": net}, {}),
                    train_epoch=lambda run: None, describe=lambda run: "")
    with pytest.raises(ValueError, match="no data-parallel version"):
        run_recipe(recipe, None, distributed=Distributed(rank=0, world_size=2))


_TOY_DATA = torch.utils.data.TensorDataset(torch.randn(24, 3, generator=torch.Generator().manual_seed(0)),
                                           torch.randn(24, 1, generator=torch.Generator().manual_seed(1)))


def _toy_recipe():
    """A linear regression trained by SGD, 3 examples per process and step, in the shard's order."""
    from course_utils.runs import Recipe

    def build(device, seed):
        torch.manual_seed(seed)
        net = nn.Linear(3, 1)
        return {"net": net}, {"sgd": torch.optim.SGD(net.parameters(), lr=0.1)}

    def train_epoch(run):
        d = run.distributed
        if d.enabled:
            data, batch = run.shard(_TOY_DATA, 3), 3
        else:                                  # one process at the global batch, in the same order
            order = IndexShards(len(_TOY_DATA), 6, seed=run.epoch_seed()).indices()
            data, batch = torch.utils.data.Subset(_TOY_DATA, order), 6
        net, opt = run.parallel("net"), run.optimizers["sgd"]
        for x, y in torch.utils.data.DataLoader(data, batch):
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            run.history.log_step({"loss": float(loss.detach())})

    return Recipe(name="toy", notebook="00", data="random", epochs=3, build=build, train_epoch=train_epoch,
                  describe=lambda run: "", parallel=True)


def _recipe_worker(rank: int, port: int, folder: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from course_utils import distributed
    from course_utils.runs import run_recipe
    try:
        d = distributed.setup("cpu")
        run_recipe(_toy_recipe(), Path(folder), epochs=2, distributed=d, log=lambda m: None)
        run_recipe(_toy_recipe(), Path(folder), distributed=d, log=lambda m: None)     # resumed for the third
    finally:
        distributed.shutdown()


def test_two_gloo_processes_train_a_recipe_as_one_process_at_the_global_batch(tmp_path):
    from course_utils.runs import run_recipe
    single = run_recipe(_toy_recipe(), tmp_path / "one", log=lambda m: None)
    context = multiprocessing.get_context("fork")
    port = _free_port()
    workers = [context.Process(target=_recipe_worker, args=(r, port, str(tmp_path / "two"))) for r in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(TIMEOUT)
        if w.is_alive():
            w.kill()
    assert [w.exitcode for w in workers] == [0, 0]
    state = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert state["epoch"] == 3 and state["meta"]["processes"] == 2
    for key, value in single.modules["net"].state_dict().items():
        torch.testing.assert_close(state["modules"]["net"][key], value, atol=1e-6, rtol=1e-5)
