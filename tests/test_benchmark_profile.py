"""scripts/benchmark.py --profile: operator and host-sync counts per iteration."""

import pytest
import torch


def test_count_ops_counts_operators_and_host_syncs(bench):
    x = torch.ones(8)
    counts = bench.count_ops(lambda: float((x * 2).sum()), iterations=4)
    assert counts["host syncs"] == 1  # the float() of one call
    assert counts["ops called from Python"] == 3  # mul, sum and the item() of float()
    assert counts["aten ops"] >= 3


def test_optimizer_counter_reads_are_not_host_syncs(bench):
    w = torch.nn.Parameter(torch.ones(4))
    optimizer = torch.optim.Adam([w], 1e-3, foreach=False)  # reads its step counter with .item()

    def step():
        w.grad = torch.ones(4)
        optimizer.step()
    assert bench.count_ops(step)["host syncs"] == 0


def test_profile_table_has_one_row_per_case(bench):
    results = {"CPU": {"profile": {"case": {"aten ops": 10.0, "ops called from Python": 3.0, "host syncs": 1.0}}},
               "GPU": {"profile": {"case": {"aten ops": 10.0, "ops called from Python": 3.0, "host syncs": 1.0}}}}
    assert bench.profile_table(results).splitlines()[2:] == ["| case | 10 | 3 | 1 |"]


def test_host_reads_count_tolist_and_leave_out_torchs_own_reads(bench):
    x = torch.ones(8)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=4, shuffle=True)
    with bench.HostReads() as reads:
        x.tolist()
        list(loader)   # the sampler's permutation .tolist() and the base seed's .item(): PyTorch's own, on the CPU
        bool(x.sum() > 0)
    assert reads.count == 2
    assert "read" not in torch.Tensor.tolist.__qualname__   # the methods are restored


def test_train_gan_reads_its_values_once_per_sync_every(bench, monkeypatch):
    """The loop's host syncs per call: one per iteration, or one per `sync_every` iterations."""
    monkeypatch.setattr(bench, "LOOP_ITERATIONS", 10)
    cpu = torch.device("cpu")
    every = bench.count_ops(bench.loop_case("mlp", cpu, batch=4, samples=64), iterations=1)
    batched = bench.count_ops(bench.loop_case("mlp", cpu, batch=4, samples=64, sync_every=5), iterations=1)
    assert every["host syncs"] == 10 and batched["host syncs"] == 2
