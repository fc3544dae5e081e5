"""course_utils.pretrained (manifest, verified fp16 files, lecture mode) and course_utils.runs (exact resume)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from course_utils import pretrained
from course_utils.checkpoints import CheckpointError
from course_utils.runs import Recipe, Run, run_recipe
from course_utils.runtime import PROJECT_ROOT, by_mode
from course_utils.training import History


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 1))


def _history() -> History:
    h = History()
    for step in range(4):
        h.log_step({"loss": 1.0 / (step + 1)})
    h.log_epoch({"loss": 0.5, "test": -1.25})
    h.snapshots.append((1, torch.rand(2, 1, 4, 4)))
    h.seconds = 3.5
    return h


def test_export_then_load_in_lecture_mode(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    net = _net()
    file = pretrained.export("toy", {"net": net}, notebook="00", command="python make_toy.py", trained="4 steps.",
                             data="random numbers", history=_history(), where=tmp_path,
                             info={"steps": 4, "torch": torch.__version__})   # TorchVersion: stored as a str
    entry = pretrained.manifest(tmp_path)["toy"]
    assert entry["sha256"] == pretrained.sha256(file) and entry["bytes"] == file.stat().st_size
    assert entry["command"] == "python make_toy.py" and entry["notebook"] == "00"
    stored = torch.load(file, weights_only=True)
    assert all(v.dtype in (torch.float16, torch.int64) for v in stored["modules"]["net"].values())

    monkeypatch.setenv("COURSE_MODE", "lecture")
    fresh = _net()
    history = pretrained.train_or_load("toy", {"net": fresh}, lambda: pytest.fail("lecture mode must not train"),
                                       where=tmp_path)
    assert "pretrained model 'toy'" in capsys.readouterr().out
    for (k, a), b in zip(net.state_dict().items(), fresh.state_dict().values()):
        assert b.dtype == a.dtype, k
        assert torch.allclose(a.float(), b.float(), atol=1e-3, rtol=1e-3), k
    assert not fresh.training
    assert history.steps["loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert history.epochs["test"] == [-1.25] and history.seconds == 3.5 and history.snapshots[0][0] == 1


def test_other_modes_train(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "quick")
    assert pretrained.train_or_load("absent", {"net": _net()}, lambda: "trained", where=tmp_path) == "trained"
    assert by_mode(smoke=1, quick=2, full=3) == 2
    monkeypatch.setenv("COURSE_MODE", "lecture")
    assert by_mode(smoke=1, quick=2, full=3) == 2
    assert by_mode(smoke=1, quick=2, full=3, lecture=4) == 4


def test_names_matched_by_position_for_another_class(tmp_path):
    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.norm, self.act, self.last = nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 1)

        def forward(self, x):
            return self.last(self.act(self.norm(self.first(x))))

    net = _net()
    pretrained.export("toy", {"net": net}, notebook="00", command="c", trained="t", data="d", where=tmp_path)
    student = Student()
    pretrained.load("toy", {"net": student}, where=tmp_path)
    assert torch.allclose(student.first.weight, net[0].weight.half().float())


def test_clear_messages(tmp_path):
    net = _net()
    file = pretrained.export("toy", {"net": net}, notebook="00", command="python make_toy.py", trained="t", data="d",
                             where=tmp_path)
    with pytest.raises(pretrained.PretrainedError, match="no pretrained model 'other'.*lists: toy"):
        pretrained.load("other", {"net": net}, where=tmp_path)
    with pytest.raises(pretrained.PretrainedError, match="no weights for \\['G'\\]"):
        pretrained.load("toy", {"G": net}, where=tmp_path)
    with pytest.raises(CheckpointError, match="another architecture.*make_toy.py"):
        pretrained.load("toy", {"net": nn.Linear(2, 2)}, where=tmp_path)
    file.write_bytes(file.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(pretrained.PretrainedError, match="has changed since it was listed.*Rebuild it with `python make_toy.py`"):
        pretrained.load("toy", {"net": net}, where=tmp_path)
    file.unlink()
    with pytest.raises(pretrained.PretrainedError, match="is missing. Rebuild it with `python make_toy.py`"):
        pretrained.load("toy", {"net": net}, where=tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(pretrained.PretrainedError, match="not a readable manifest"):
        pretrained.manifest(tmp_path)


def test_shipped_pretrained_folder_matches_its_manifest():
    """Every file in pretrained/ is listed with the right sha256 and a command; together within the budget."""
    models = pretrained.manifest(PROJECT_ROOT / "pretrained")
    files = {p.name for p in (PROJECT_ROOT / "pretrained").glob("*.pt")}
    assert files == {e["file"] for e in models.values()}, "pretrained/ and its manifest list other files"
    total = 0
    for name, e in models.items():
        path = pretrained.path(name, where=PROJECT_ROOT / "pretrained")   # verifies the sha256
        total += path.stat().st_size
        assert e["command"].startswith("python scripts/") and e["trained"] and e["data"], name
        assert e["notebook"][:2].isdigit(), name
    assert total <= pretrained.BUDGET_BYTES, f"pretrained/ holds {total / 2**20:.1f} MiB, over 64 MiB"


# --- runs: a recipe that trains a small regression, one epoch = 5 seeded minibatches -----------------------

def _build(device, seed):
    torch.manual_seed(seed)
    net = _net().to(device)
    return {"net": net}, {"adam": torch.optim.Adam(net.parameters(), lr=1e-2)}


def _train_epoch(run: Run) -> None:
    g = torch.Generator().manual_seed(run.epoch_seed())
    net, opt = run.modules["net"], run.optimizers["adam"]
    net.train()
    for _ in range(5):
        x = torch.randn(16, 3, generator=g)
        noise = torch.randn(16, 1) * 0.1        # global RNG: restored on resume too
        loss = ((net(x) - x.sum(1, keepdim=True) - noise) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.history.log_step({"loss": float(loss.detach())})
    run.history.log_epoch({"loss": run.history.steps["loss"][-1]})


TOY = Recipe(name="toy", notebook="00", data="random numbers", epochs=4, build=_build, train_epoch=_train_epoch,
             describe=lambda run: f"{run.epoch} epochs", export=("net",))


def test_resume_is_exact(tmp_path):
    torch.manual_seed(123)
    straight = run_recipe(TOY, tmp_path / "a", log=lambda s: None)
    torch.manual_seed(123)
    run_recipe(TOY, tmp_path / "b", epochs=2, log=lambda s: None)
    torch.manual_seed(999)                      # another process, another global state: restored from the file
    resumed = run_recipe(TOY, tmp_path / "b", log=lambda s: None)
    assert resumed.epoch == 4
    assert resumed.history.steps["loss"] == straight.history.steps["loss"]
    for a, b in zip(straight.modules["net"].state_dict().values(), resumed.modules["net"].state_dict().values()):
        assert torch.equal(a, b)


def test_fresh_keeps_previous_and_other_settings_refused(tmp_path):
    run_recipe(TOY, tmp_path, epochs=1, log=lambda s: None)
    run_recipe(TOY, tmp_path, epochs=1, fresh=True, log=lambda s: None)
    assert (tmp_path / "previous.pt").is_file() and (tmp_path / "last.pt").is_file()
    with pytest.raises(CheckpointError, match="other settings.*--fresh"):
        run_recipe(TOY, tmp_path, seed=5, log=lambda s: None)


def test_script_lists_the_recipes():
    out = subprocess.run([sys.executable, "scripts/train_pretrained.py", "--list"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "vae_mnist_2d" in out.stdout and "notebook 01" in out.stdout
    bad = subprocess.run([sys.executable, "scripts/train_pretrained.py", "no_such_model"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no recipe no_such_model" in bad.stderr


def test_every_model_a_notebook_loads_is_shipped():
    """Each name a solution notebook passes to ``train_or_load`` / ``pretrained.load`` is in the manifest, for
    that notebook; lecture mode then cannot fail on a missing model (CI runs the notebooks in smoke mode)."""
    import re

    import nbformat

    models = pretrained.manifest(PROJECT_ROOT / "pretrained")
    pattern = re.compile(r"""(?:train_or_load|pretrained\.load)\(\s*(?:f?["'])([A-Za-z0-9_{}]+)["']""")
    for path in sorted((PROJECT_ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb")):
        source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        for name in pattern.findall(source):
            if "{" in name:        # an f-string (one model per seed): its expansions must be listed
                prefix = name.split("{")[0]
                assert any(n.startswith(prefix) for n in models), f"{path.name}: no pretrained model {name}"
                continue
            assert name in models, f"{path.name} loads {name!r}, which pretrained/manifest.json does not list"
            assert models[name]["notebook"] == path.name[:2], f"{name} is listed for notebook {models[name]['notebook']}"
    numbers = {p.name[:2] for p in (PROJECT_ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb")}
    for name, e in models.items():
        assert e["notebook"] in numbers, f"{name} is listed for notebook {e['notebook']}, which does not exist"


def test_preflight_names_a_missing_pretrained_model_in_lecture_mode(tmp_path, monkeypatch):
    from course_utils import preflight

    pretrained.export("toy", {"net": _net()}, notebook="00", command="python make_toy.py", trained="t", data="d",
                      where=tmp_path)
    monkeypatch.setenv("COURSE_PRETRAINED_DIR", str(tmp_path))
    assert preflight.pretrained_problems() == []
    (tmp_path / "toy.pt").unlink()
    problems = preflight.pretrained_problems()
    assert len(problems) == 1 and "'toy'" in problems[0] and "python make_toy.py" in problems[0]


def test_makefile_targets_are_defined_once():
    """`make skeletons` writes, `make check-skeletons` only checks, `make lecture-check` times lecture mode."""
    import shutil

    if shutil.which("make") is None:
        pytest.skip("make is not installed")

    def dry(target: str) -> str:
        out = subprocess.run(["make", "-n", target], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
        assert "overriding recipe" not in out.stderr, out.stderr
        return out.stdout

    assert "tools/authoring.py" in dry("skeletons") and "--check" not in dry("skeletons")
    assert "tools/authoring.py --check" in dry("check-skeletons")
    assert "time_notebooks.py --mode lecture" in dry("lecture-check")
