"""The preflight of `make test` / `make lab`: one message, within seconds, naming what is missing and the way out."""

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course_utils import preflight
from course_utils.data import fetch

ROOT = Path(__file__).resolve().parent.parent
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",  # a closed port: refused at once
              "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}


@pytest.fixture
def nowhere(monkeypatch, tmp_path):
    """No datasets anywhere: COURSE_DATA_DIR and the project's data/ are empty folders."""
    empty, project = tmp_path / "empty", tmp_path / "project_data"
    empty.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(empty))
    monkeypatch.setattr(fetch, "default_data_dir", lambda: project)
    return empty


def test_make_test_without_datasets_or_network_stops_within_seconds_with_one_message(nowhere, tmp_path):
    script = ("import sys; from pathlib import Path; from course_utils.data import fetch; "
              f"fetch.default_data_dir = lambda: Path({str(tmp_path / 'project_data')!r}); "
              "from course_utils import preflight; sys.exit(preflight.main(['test']))")
    env = {**__import__("os").environ, **NO_NETWORK, "COURSE_DATA_DIR": str(nowhere)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    seconds = time.perf_counter() - start
    assert result.returncode == 1, result.stderr
    message = result.stderr
    assert message.startswith("make test cannot start:") and message.count("cannot start") == 1, message
    for needed in ("MNIST (notebooks 01-05", "monet2photo (notebooks 04-06", "cannot be downloaded", "`make data`",
                   f"COURSE_DATA_DIR, now {nowhere}", "set COURSE_DATA_DIR to a folder"):
        assert needed in message, f"{needed!r} missing from:\n{message}"
    assert "Traceback" not in message
    assert seconds < 60, f"preflight took {seconds:.1f} s (interpreter start and torch import included)"


def test_lab_opens_anyway_and_notes_the_missing_datasets(nowhere, monkeypatch):
    for name, value in NO_NETWORK.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(urllib.request, "_opener", None)  # rebuilt from the proxy settings above
    problems, notes = preflight.preflight("lab", timeout=2)
    assert problems == []
    assert any("missing datasets" in note and "`make data`" in note for note in notes), notes


def test_a_missing_dataset_whose_server_answers_is_only_a_note(nowhere, monkeypatch, server):
    absent = fetch.Dataset("MNIST", "notebooks 01-05", 12, (server.url + "anything",),
                           lambda: fetch.Found(None, "not here"), lambda root: root)
    monkeypatch.setattr(fetch, "DATASETS", (absent,))
    problems, notes = preflight.preflight("test", timeout=2)
    assert problems == [] and notes == ["MNIST (notebooks 01-05, about 12 MB): not here; "
                                        "the notebooks download it on first use (or run `make data` now)"]


def test_everything_present_means_silence(monkeypatch, tmp_path):
    present = fetch.Dataset("MNIST", "notebooks 01-05", 12, ("http://127.0.0.1:9/",),
                            lambda: fetch.Found(tmp_path, "4 files"), lambda root: root)
    monkeypatch.setattr(fetch, "DATASETS", (present,))
    assert preflight.preflight("test") == ([], [])


def test_a_cache_that_cannot_be_written_names_course_cache_dir(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))  # below a file: not creatable, even for root
    monkeypatch.setattr(fetch, "DATASETS", ())
    problems, _ = preflight.preflight("test")
    assert len(problems) == 1 and "COURSE_CACHE_DIR" in problems[0] and str(blocker / "cache") in problems[0]


def test_a_package_missing_from_the_environment_says_how_to_rebuild_it(monkeypatch):
    monkeypatch.setitem(preflight.PACKAGES, "test", preflight.PACKAGES["test"] + ("no_such_module_here",))
    monkeypatch.setattr(fetch, "DATASETS", ())
    problems, _ = preflight.preflight("test")
    assert len(problems) == 1 and "no_such_module_here" in problems[0] and "make clean" in problems[0]


def test_make_test_and_make_lab_run_the_preflight_first():
    makefile = (ROOT / "Makefile").read_text()
    for target, purpose in (("test", "test"), ("lab", "lab"), ("test-browser", "test")):
        recipe = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
        assert recipe[0].strip() == f"$(BIN)/python -m course_utils.preflight {purpose}", (target, recipe)
