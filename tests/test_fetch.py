"""`make data` (course_utils.data.fetch) against a local HTTP server: downloads once, verified, atomically."""

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from course_utils.data import fetch, monet2photo_root

COUNTS = {"trainA": 2, "trainB": 3, "testA": 1, "testB": 1}


def _zip(counts=COUNTS) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for split, n in counts.items():
            for i in range(n):
                image = io.BytesIO()
                Image.new("RGB", (8, 8), (40 * i, 90, 160)).save(image, format="PNG")
                archive.writestr(f"monet2photo/{split}/{i}.png", image.getvalue())
    return buffer.getvalue()


@pytest.fixture
def course(monkeypatch, tmp_path, fake_mnist, server):
    """COURSE_DATA_DIR → a folder that does not exist yet; datasets served by a local server."""
    _, files, _ = fake_mnist
    for name, (data, _) in files.items():
        server.routes[f"/mnist/{name}"] = (data, None)
    server.routes["/m.zip"] = (_zip(), None)
    target = tmp_path / "not" / "yet" / "data"
    project = tmp_path / "project_data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    monkeypatch.setattr(fetch, "default_data_dir", lambda: project)
    md5s = tuple((name, md5) for name, (_, md5) in files.items())
    datasets = (
        fetch.Dataset("MNIST", "notebooks 01-05", 1, (server.url + "mnist/",), lambda: fetch.find_mnist(md5s),
                      lambda root: fetch.fetch_mnist(root, md5s, mirrors=[server.url + "mnist/"])),
        fetch.Dataset("monet2photo", "notebooks 04-06", 1, (server.url + "m.zip",), fetch.find_monet2photo,
                      lambda root: fetch.fetch_monet2photo(root, urls=[server.url + "m.zip"], expected_counts=COUNTS)),
    )
    return datasets, target, files


def _run(datasets, **kwargs) -> tuple[int, str]:
    out = io.StringIO()
    return fetch.fetch_all(datasets, out=out, **kwargs), out.getvalue()


def test_fetches_everything_once_into_a_new_folder_and_the_loaders_find_it(course, server, monkeypatch):
    datasets, target, files = course
    status, text = _run(datasets)
    assert status == 0, text
    assert sorted(p.name for p in (target / "MNIST" / "raw").iterdir()) == sorted(files)
    assert sorted(p.name for p in target.iterdir()) == ["MNIST", "monet2photo"], "a .part, zip or staging folder left"
    assert {p.name: len(list(p.iterdir())) for p in (target / "monet2photo").iterdir()} == COUNTS
    assert monet2photo_root(download=False) == target / "monet2photo"  # where the notebooks' loader looks
    hits = len(server.hits)
    status, text = _run(datasets)
    assert status == 0 and "Nothing to download" in text and len(server.hits) == hits
    assert "MNIST (notebooks 01-05): present, 4 files, md5 verified" in text


def test_interrupted_download_leaves_nothing_and_says_so(course, server):
    datasets, target, files = course
    name = next(iter(files))
    data, _ = files[name]
    server.routes[f"/mnist/{name}"] = (data[: len(data) // 2], len(data))  # the connection drops half-way
    status, text = _run(datasets[:1])
    assert status == 1 and "stopped after" in text and "Not downloaded: MNIST" in text
    assert not (target / "MNIST" / "raw" / name).exists()
    assert not list((target / "MNIST" / "raw").glob("*.part"))


def test_wrong_hash_is_rejected_and_removed(course, server):
    datasets, target, files = course
    name = next(iter(files))
    server.routes[f"/mnist/{name}"] = (b"not the file" * 100, None)
    status, text = _run(datasets[:1])
    assert status == 1 and "expected" in text and "md5" in text
    assert not (target / "MNIST" / "raw" / name).exists()


def test_a_corrupt_file_already_there_is_reported_not_replaced(course, server):
    datasets, target, files = course
    name = next(iter(files))
    (target / "MNIST" / "raw").mkdir(parents=True)
    (target / "MNIST" / "raw" / name).write_bytes(b"garbage")
    status, text = _run(datasets[:1])
    assert status == 1 and "corrupt" in text and "Delete it" in text
    assert (target / "MNIST" / "raw" / name).read_bytes() == b"garbage" and server.hits == []


def test_a_partial_monet2photo_copy_is_named_and_kept(course, server):
    datasets, target, _ = course
    (target / "monet2photo" / "trainA").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(target / "monet2photo" / "trainA" / "0.png")
    status, text = _run(datasets[1:])
    assert status == 1 and "lacks trainB, testA, testB" in text and "left as it is" in text
    assert server.hits == [] and (target / "monet2photo" / "trainA" / "0.png").is_file()


def test_read_only_data_folder_gives_one_clear_message(course, server, monkeypatch):
    datasets, _, _ = course
    base = Path(tempfile.mkdtemp(prefix="course-read-only-"))
    os.chmod(base, 0o755)  # readable by everyone, unlike pytest's tmp_path
    target = base / "data"
    target.mkdir()
    os.chmod(target, 0o555)
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    monkeypatch.setattr(fetch, "default_data_dir", lambda: target)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child gives up root (for whom nothing is read-only) and runs make data's logic
        status, text = "error", "the child stopped early"
        try:
            os.close(read)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            status, text = _run(datasets)
        except BaseException as err:  # reported to the parent, which fails with it
            text = repr(err)
        finally:
            os.write(write, f"{status}\n{text}".encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        status, text = pipe.read().split("\n", 1)
    os.waitpid(pid, 0)
    os.chmod(target, 0o755)
    shutil.rmtree(base)
    assert status == "1", text
    assert "Cannot download MNIST, monet2photo" in text and "is not writable" in text and "COURSE_DATA_DIR" in text
    assert server.hits == []


def test_check_reports_missing_without_downloading(course, server, capsys, monkeypatch):
    datasets, _, _ = course
    monkeypatch.setattr(fetch, "DATASETS", datasets)
    assert fetch.main(["--check"]) == 1
    assert "MNIST (notebooks 01-05): 4 of 4 files missing" in capsys.readouterr().out
    assert server.hits == []
