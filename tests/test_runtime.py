import pytest
import torch

from course_utils import runtime


def test_mode_is_read_from_the_environment(monkeypatch):
    for mode in runtime.MODES:
        monkeypatch.setenv("COURSE_MODE", mode.upper())
        assert runtime.get_mode() == mode


def test_invalid_mode_says_what_is_allowed(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    with pytest.raises(ValueError, match="smoke, quick, full"):
        runtime.get_mode()


def test_mode_defaults_to_smoke_on_ci_and_quick_on_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.get_mode() == "quick"
    monkeypatch.setenv("CI", "true")
    assert runtime.get_mode() == "smoke"
    monkeypatch.setenv("CI", "false")
    assert runtime.get_mode() == "quick"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.get_mode() == "full"


def test_by_mode_picks_the_current_value(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    assert runtime.by_mode(smoke=1, quick=2, full=3) == 1
    monkeypatch.setenv("COURSE_MODE", "full")
    assert runtime.by_mode(smoke=1, quick=2, full=3) == 3


def test_device_override_and_errors(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert runtime.get_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "banana")
    with pytest.raises(ValueError, match="not a device name"):
        runtime.get_device()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no cuda device is available"):
        runtime.get_device()


def test_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.get_device() == torch.device("cpu")


def test_seed_everything_makes_runs_repeat():
    g = runtime.seed_everything(7)
    a, b = torch.randn(3), torch.randn(3, generator=g)
    g = runtime.seed_everything(7)
    assert torch.equal(a, torch.randn(3)) and torch.equal(b, torch.randn(3, generator=g))


def test_folders(monkeypatch, tmp_path):
    assert runtime.data_dir() == runtime.PROJECT_ROOT / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert runtime.data_dir() == tmp_path.resolve()
    assert runtime.cache_dir().is_dir()


def test_setup_lines_name_device_mode_and_versions(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    runtime.print_setup(seed=3)
    out = capsys.readouterr().out
    assert "device: cpu" in out and "mode: smoke, seed: 3" in out and f"torch {torch.__version__}" in out
