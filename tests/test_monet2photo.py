"""monet2photo: found when present, downloaded atomically from a local HTTP server otherwise."""

import io
import zipfile

import pytest
import torch
from PIL import Image

from course_utils.data import CorruptFileError, DatasetNotFoundError
from course_utils.data import monet2photo as m2p

COUNTS = {"trainA": 3, "trainB": 4, "testA": 1, "testB": 2}


def jpeg(colour, size=40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_zip(counts=COUNTS) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for split, n in counts.items():
            for i in range(n):
                colour = (200, 50, 50) if split.endswith("A") else (50, 50, 200)
                archive.writestr(f"monet2photo/{split}/{i:03d}.jpg", jpeg(colour))
    return buffer.getvalue()


@pytest.fixture
def project(monkeypatch, tmp_path):
    data = tmp_path / "project_data"
    monkeypatch.setattr(m2p, "default_data_dir", lambda: data)
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    return data


def test_downloads_verifies_and_extracts_once(project, server):
    server.routes["/m.zip"] = (make_zip(), None)
    root = m2p.monet2photo_root(urls=[server.url + "m.zip"], expected_counts=COUNTS)
    assert root == project / "monet2photo"
    assert {p.name: len(list(p.iterdir())) for p in root.iterdir()} == COUNTS
    assert sorted(p.name for p in project.iterdir()) == ["monet2photo"]  # the zip and temporary folders are gone
    hits = len(server.hits)
    assert m2p.monet2photo_root(urls=[server.url + "m.zip"], expected_counts=COUNTS) == root
    assert len(server.hits) == hits


def test_present_data_dir_is_used_and_not_written(monkeypatch, tmp_path, project, server):
    shared = tmp_path / "shared"
    with zipfile.ZipFile(io.BytesIO(make_zip())) as archive:
        archive.extractall(shared)
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared))
    assert m2p.monet2photo_root(urls=[server.url + "m.zip"]) == shared / "monet2photo"
    assert server.hits == [] and not project.exists()


def test_truncated_download_leaves_nothing_that_looks_valid(project, server):
    body = make_zip()
    server.routes["/m.zip"] = (body[: len(body) // 2], len(body))
    with pytest.raises(DatasetNotFoundError, match="stopped after"):
        m2p.monet2photo_root(urls=[server.url + "m.zip"], expected_counts=COUNTS)
    assert not project.exists() or list(project.iterdir()) == []


def test_zip_with_a_missing_folder_is_rejected(project, server):
    server.routes["/m.zip"] = (make_zip({"trainA": 2, "trainB": 2, "testA": 1}), None)
    with pytest.raises(DatasetNotFoundError, match="no monet2photo/testB/ folder"):
        m2p.monet2photo_root(urls=[server.url + "m.zip"], expected_counts=None)
    assert not project.exists() or list(project.iterdir()) == []


def test_wrong_counts_and_garbage_are_rejected(project, server, tmp_path):
    server.routes["/m.zip"] = (make_zip(), None)
    with pytest.raises(DatasetNotFoundError, match="expected"):
        m2p.monet2photo_root(urls=[server.url + "m.zip"], expected_counts={**COUNTS, "trainA": 99})
    garbage = tmp_path / "g.zip"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(CorruptFileError, match="not a readable zip"):
        m2p.verify_zip(garbage)


def test_offline_message_says_what_to_do(project):
    with pytest.raises(DatasetNotFoundError) as info:
        m2p.monet2photo_root(urls=["http://127.0.0.1:9/monet2photo.zip"])
    message = str(info.value)
    assert "http://127.0.0.1:9/monet2photo.zip" in message and "COURSE_DATA_DIR" in message
    assert str(project) in message


def test_half_extracted_folder_is_reported(project):
    (project / "monet2photo" / "trainA").mkdir(parents=True)
    with pytest.raises(CorruptFileError, match="Delete it"):
        m2p.monet2photo_root(urls=[])


def test_unpaired_dataset_shapes_ranges_and_determinism(tmp_path):
    with zipfile.ZipFile(io.BytesIO(make_zip())) as archive:
        archive.extractall(tmp_path)
    root = tmp_path / "monet2photo"
    train = m2p.UnpairedImages(root, "train", load_size=36, crop_size=32)
    a, b = train[0]
    assert len(train) == 3 and a.shape == b.shape == (3, 32, 32)
    assert -1 <= a.min() and a.max() <= 1 and a[0].mean() > a[2].mean() and b[2].mean() > b[0].mean()
    test = m2p.UnpairedImages(root, "test", load_size=36, crop_size=32, train=False)
    first, again = test[0], test[0]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    with pytest.raises(DatasetNotFoundError):
        m2p.UnpairedImages(tmp_path, "train")
