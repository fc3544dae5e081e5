import itertools
from pathlib import Path

import pytest
import torch

from conftest import write_files
from course_utils.data import (CorruptFileError, DatasetNotFoundError, device_batches, download_file, load_mnist,
                               make_loader, md5sum)
from course_utils.data import mnist as mnist_module
from course_utils.training import endless


@pytest.fixture
def fake_source(monkeypatch, fake_mnist, tmp_path):
    """Point the MNIST loader at the fake files' md5 sums, a project data dir in tmp, and no real mirror."""
    root, files, tensors = fake_mnist

    class FakeMNIST:
        resources = [(name, md5) for name, (_, md5) in files.items()]
        mirrors = ["http://127.0.0.1:9/"]  # discard port: nothing listens, like being offline

    FakeMNIST.__name__ = "MNIST"
    monkeypatch.setitem(mnist_module._DATASETS, "mnist", FakeMNIST)
    project_data = tmp_path / "project_data"
    monkeypatch.setattr(mnist_module, "default_data_dir", lambda: project_data)
    monkeypatch.setenv("COURSE_DATA_DIR", str(project_data))
    return FakeMNIST, files, tensors, project_data


def test_loads_from_data_dir_as_float_tensors(fake_source):
    _, files, tensors, project_data = fake_source
    write_files(project_data / "MNIST" / "raw", files)
    train = load_mnist(train=True)
    images, labels = train.tensors
    assert images.shape == (64, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == (torch.arange(64) % 10).tolist()
    assert torch.allclose(images[:, 0, 0, 0] * 255, tensors["train"][0][:, 0, 0].float())
    assert 0.0 <= images.min() and images.max() <= 1.0
    test = load_mnist(train=False, limit=5)
    assert len(test) == 5


def test_read_only_data_dir_is_never_written(fake_source, tmp_path, monkeypatch):
    _, files, _, _ = fake_source
    shared = tmp_path / "shared"
    write_files(shared / "MNIST" / "raw", files)
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared))
    before = sorted(p.name for p in (shared / "MNIST" / "raw").iterdir())
    load_mnist(train=True)
    assert sorted(p.name for p in (shared / "MNIST" / "raw").iterdir()) == before
    assert (tmp_path / "cache" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_offline_and_missing_gives_a_message_naming_files_url_and_folder(fake_source):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(train=True)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "http://127.0.0.1:9/" in message
    assert str(fake_source[3] / "MNIST" / "raw") in message
    assert "Traceback" not in message


def test_downloads_missing_files_into_project_data(fake_source, server):
    cls, files, _, project_data = fake_source
    for name, (data, _) in files.items():
        server.routes[f"/{name}"] = (data, None)
    cls.mirrors = ["http://127.0.0.1:9/", server.url]  # the first mirror is down
    assert len(load_mnist(train=True)) == 64
    assert sorted(p.name for p in (project_data / "MNIST" / "raw").iterdir()) == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    hits = len(server.hits)
    load_mnist(train=True)
    assert len(server.hits) == hits  # second call downloads nothing


def test_truncated_download_leaves_nothing_behind(fake_source, server):
    cls, files, _, project_data = fake_source
    for name, (data, _) in files.items():
        server.routes[f"/{name}"] = (data[: len(data) // 2], len(data))  # connection ends early
    cls.mirrors = [server.url]
    with pytest.raises(DatasetNotFoundError, match="stopped after|IncompleteRead|md5"):
        load_mnist(train=True)
    raw = project_data / "MNIST" / "raw"
    assert not raw.exists() or list(raw.iterdir()) == []


def test_corrupt_file_is_reported_with_what_to_do(fake_source):
    _, files, _, project_data = fake_source
    write_files(project_data / "MNIST" / "raw", files)
    path = project_data / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="corrupt or truncated.*Delete it"):
        load_mnist(train=True)


def test_bad_gzip_with_matching_md5_leaves_no_half_written_cache(fake_source, monkeypatch, tmp_path):
    cls, files, _, project_data = fake_source
    broken = dict(files)
    data = files["train-images-idx3-ubyte.gz"][0][:-30]  # truncated gzip stream
    import hashlib
    broken["train-images-idx3-ubyte.gz"] = (data, hashlib.md5(data).hexdigest())
    cls.resources = [(name, md5) for name, (_, md5) in broken.items()]
    write_files(project_data / "MNIST" / "raw", broken)
    with pytest.raises(CorruptFileError, match="could not be decompressed"):
        load_mnist(train=True)
    cache = tmp_path / "cache" / "MNIST" / "raw"
    assert not any(p.name.startswith("train-images") for p in cache.iterdir())


def test_download_file_verifies_md5_and_is_atomic(server, tmp_path):
    server.routes["/f.bin"] = (b"hello world", None)
    dest = tmp_path / "d" / "f.bin"
    with pytest.raises(CorruptFileError, match="md5"):
        download_file(server.url + "f.bin", dest, md5="0" * 32)
    assert not dest.exists() and not dest.with_name("f.bin.part").exists()
    download_file(server.url + "f.bin", dest, md5=md5sum_of(b"hello world", tmp_path))
    assert dest.read_bytes() == b"hello world"


def md5sum_of(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "tmp.bin"
    path.write_bytes(data)
    return md5sum(path)


def test_make_loader_order_depends_only_on_seed():
    dataset = torch.utils.data.TensorDataset(torch.arange(100))
    first = [b[0].tolist() for b in make_loader(dataset, 10, seed=3)]
    again = [b[0].tolist() for b in make_loader(dataset, 10, seed=3)]
    other = [b[0].tolist() for b in make_loader(dataset, 10, seed=4)]
    assert first == again and first != other
    assert sorted(sum(first, [])) == list(range(100))


@pytest.mark.parametrize("shuffle, drop_last", [(True, True), (True, False), (False, False)])
def test_device_batches_are_the_data_loaders_batches(shuffle, drop_last):
    """Four epochs of 103 samples in batches of 10 (a ragged last batch, or none): the DataLoader's order."""
    dataset = torch.utils.data.TensorDataset(torch.arange(103), torch.rand(103, 1, 2, 2))
    expected = itertools.islice(endless(make_loader(dataset, 10, shuffle=shuffle, seed=5, drop_last=drop_last)), 42)
    got = itertools.islice(device_batches(dataset, 10, device="cpu", shuffle=shuffle, seed=5, drop_last=drop_last), 42)
    for want, have in zip(expected, got, strict=True):
        assert len(have) == 2 and all(torch.equal(a, b) for a, b in zip(want, have))


def test_device_batches_refuse_a_dataset_without_a_full_batch():
    dataset = torch.utils.data.TensorDataset(torch.arange(5))
    with pytest.raises(ValueError, match="no full batch of 8"):
        next(device_batches(dataset, 8, device="cpu", drop_last=True))
