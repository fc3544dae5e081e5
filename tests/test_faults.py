"""Bad input a user may hand the course: each test makes the bad file, folder or setting itself and checks
that it is found early, reported in one message that names it and says what to do, and that nothing
already on disk is lost.

Permission cases need an unprivileged user (CI runs as root, and root may write anywhere): they run in a
forked child that drops to ``nobody`` (:func:`as_nobody`).
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from conftest import write_files
from course_utils import checkpoints, runtime
from course_utils.checkpoints import CheckpointError, atomic_save, load_checkpoint, load_state, save_checkpoint
from course_utils.cyclegan_trainer import CycleGANConfig, CycleGANTrainer, load_generators
from course_utils.data import (BadImageWarning, CorruptFileError, DatasetNotFoundError, StorageError, download_file,
                               load_image_folder, load_mnist)
from course_utils.data import mnist as mnist_module
from course_utils.data import monet2photo as m2p
from course_utils.data.imagefiles import image_problem
from course_utils.models import classifier as classifier_module

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
UNREADABLE = 0o600 if os.geteuid() == 0 else 0o000   # root's file, read by nobody; or our own, unreadable
TINY = dict(crop_size=32, ngf=4, n_blocks=1, ndf=4, n_epochs=1, n_epochs_decay=2, iterations_per_epoch=3)


# --- helpers ----------------------------------------------------------------------------------------------

def as_nobody(fn, *args):
    """Run ``fn(*args)`` without root's privileges: in a forked child as user ``nobody`` when we are root,
    in-process otherwise. Returns ``("ok", repr(result))`` or ``("error", type name, message, base names)``."""
    def call():
        try:
            return ["ok", repr(fn(*args))]
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            return ["error", type(err).__name__, str(err), [c.__name__ for c in type(err).__mro__]]

    if os.geteuid() != 0:
        return tuple(call())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges for good, run, report, leave without cleanup handlers
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, json.dumps(call()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as handle:
        data = handle.read()
    os.waitpid(pid, 0)
    return tuple(json.loads(data))


@pytest.fixture
def open_tmp():
    """A folder every user may enter (``tmp_path`` is private to root), owned by us: nobody cannot write it."""
    folder = Path(tempfile.mkdtemp(prefix="course-faults-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def read_only_folder(parent: Path) -> Path:
    """A folder that an unprivileged user cannot write (for root: see :func:`as_nobody`)."""
    folder = parent / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def tiny_images(root: Path, counts=(("trainA", 6), ("trainB", 6), ("testA", 3), ("testB", 3))) -> Path:
    g = torch.Generator().manual_seed(0)
    for split, n in counts:
        folder = root / "monet2photo" / split
        folder.mkdir(parents=True)
        for i in range(n):
            pixels = torch.randint(0, 256, (40, 44, 3), generator=g, dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root / "monet2photo"


@pytest.fixture
def monet(tmp_path, monkeypatch):
    root = tiny_images(tmp_path / "data")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    return root


def jpeg_bytes(size=(48, 40), colour=(30, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def png_bytes(size=(48, 40)) -> bytes:
    buffer = io.BytesIO()
    pixels = torch.randint(0, 256, (size[1], size[0], 3), dtype=torch.uint8).numpy()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def dead_pid() -> int:
    """The id of a process that has ended (a forked child that exited at once)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


class Small(nn.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.layer = nn.Linear(2, width)


# --- 4. one checkpoint loader: truncated, other layout, other architecture, unsafe pickle ------------------

def test_truncated_and_garbage_checkpoints_name_the_file_and_the_way_out(tmp_path):
    path = save_checkpoint(Small(), tmp_path / "model.pt", epochs=3)
    whole = path.read_bytes()
    for name, content in {"truncated": whole[: len(whole) // 2], "garbage": b"not a checkpoint" * 10,
                          "empty": b"", "zeros": bytes(4096)}.items():
        bad = tmp_path / f"{name}.pt"
        bad.write_bytes(content)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(Small(), bad, fix="Run notebook 01 again.")
        message = str(info.value)
        assert str(bad) in message and "Run notebook 01 again." in message, (name, message)
        assert "truncated or damaged" in message or "damaged" in message, (name, message)
    assert load_checkpoint(Small(), path) == {"epochs": 3}          # the good file still loads


def test_other_layout_and_other_architecture_are_told_apart(tmp_path):
    layout = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), layout)
    with pytest.raises(CheckpointError, match=r"another layout.*state_dict"):
        load_checkpoint(Small(), layout)
    other = save_checkpoint(Small(width=5), tmp_path / "wide.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(Small(width=3), other)
    assert "another architecture" in str(info.value) and "size mismatch" in str(info.value)
    assert str(other) in str(info.value)


class _Payload:
    """An object whose unpickling would run code: it creates the file ``marker``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_unsafe_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "unsafe.pt"
    torch.save({"state_dict": {}, "info": {}, "payload": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(Small(), path)
    message = str(info.value)
    assert str(path) in message and "refuses" in message and "weights_only=True" in message
    assert not marker.exists()


def test_unreadable_checkpoint_is_a_permission_problem_not_corruption(open_tmp):
    path = save_checkpoint(Small(), open_tmp / "model.pt")
    path.chmod(UNREADABLE)
    result = as_nobody(load_state, path)
    assert result[0] == "error" and result[1] == "StorageError", result
    assert str(path) in result[2] and "permission denied" in result[2] and "damaged" not in result[2]


def test_training_checkpoint_problems_offer_fresh_and_the_kept_previous(monet, tmp_path):
    run = tmp_path / "run"
    CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=run).train(epochs=1)
    last = run / "last.pt"
    shutil.copy(last, run / "previous.pt")
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as info:
        CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=run)
    message = str(info.value)
    assert str(last) in message and "--fresh" in message and "previous.pt" in message
    torch.save({"something": torch.ones(2)}, last)                               # another layout
    with pytest.raises(CheckpointError, match="another layout"):
        CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=run)
    good_previous = (run / "previous.pt").read_bytes()
    last.write_bytes(b"cut short")                                               # damaged, then --fresh:
    assert CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=run, resume=False).epoch == 0
    assert (run / "previous.pt").read_bytes() == good_previous                  # the good run is not replaced
    assert (run / "last.pt.damaged").read_bytes() == b"cut short"


def test_damaged_pretrained_generators_name_the_script_that_rebuilds_them(monet, tmp_path):
    trainer = CycleGANTrainer(CycleGANConfig(**TINY), monet)
    path = trainer.export_generators(tmp_path / "g.pt")
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match=r"train_cyclegan.py --preset small"):
        load_generators(path)
    with pytest.raises(FileNotFoundError, match="train_cyclegan.py"):
        load_generators(tmp_path / "none.pt")


def test_corrupt_cached_classifier_is_retrained_with_a_warning(monkeypatch, capsys):
    trained = []

    def fake_training():  # the real one reads MNIST for half a minute; this test is about the cache
        trained.append(1)
        return classifier_module.MNISTClassifier().eval(), {"test_accuracy": 0.98, "epochs": 0, "seconds": 0.0}

    monkeypatch.setattr(classifier_module, "train_classifier", fake_training)
    path = checkpoints.checkpoint_path(classifier_module.CHECKPOINT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * 100)                                             # a corrupt cache file
    with pytest.warns(UserWarning, match=r"cached MNIST classifier cannot be used.*Training a new one"):
        classifier_module.mnist_classifier()
    assert trained == [1]
    classifier_module.mnist_classifier()                                        # the replacement is used
    assert trained == [1] and "loaded from the cache" in capsys.readouterr().out


# --- 6. atomic saves: fsync, no half files, stray temporary files of killed runs removed --------------------

def test_atomic_save_fsyncs_file_and_folder_and_removes_stale_temporaries(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    stale = tmp_path / f"last.pt.tmp{dead_pid()}"
    stale.write_bytes(b"half a checkpoint")
    alive = tmp_path / f"last.pt.tmp{os.getppid()}"                             # a live process's: kept
    alive.write_bytes(b"being written")
    other = tmp_path / "other.pt.tmp1"                                          # another file's: not ours
    other.write_bytes(b"x")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.path.isdir(f"/proc/self/fd/{fd}")
                                                               and os.path.realpath(f"/proc/self/fd/{fd}")),
                                                 real_fsync(fd)))
    atomic_save({"x": torch.ones(3)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["x"], torch.ones(3))
    assert not stale.exists() and alive.exists() and other.exists()
    assert len(synced) == 2 and synced[0] is False and synced[1] == str(tmp_path)  # the file, then its folder


def test_failed_save_keeps_the_earlier_checkpoint_and_leaves_no_half_file(tmp_path, monkeypatch):
    target = atomic_save({"epoch": 1}, tmp_path / "last.pt")

    def disk_full(obj, handle):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(StorageError) as info:
        atomic_save({"epoch": 2}, target)
    assert "no space left" in str(info.value) and str(tmp_path) in str(info.value) and "unchanged" in str(info.value)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


# --- 1. the checkpoint folder is tested before the first iteration ------------------------------------------

def test_unwritable_checkpoint_folder_is_reported_before_any_work(open_tmp):
    folder = read_only_folder(open_tmp) / "run"
    result = as_nobody(checkpoints.check_checkpoint_dir, folder)
    assert result[0] == "error" and result[1] == "StorageError", result
    assert str(folder) in result[2] and "permission denied" in result[2]
    writable = open_tmp / "mine"
    writable.mkdir(mode=0o777)
    writable.chmod(0o777)
    assert as_nobody(checkpoints.check_checkpoint_dir, writable / "run")[0] == "ok"


def test_trainer_checks_its_folder_before_training(monet, tmp_path, monkeypatch):
    steps = []

    def step(*args, **kwargs):
        steps.append(1)
        raise AssertionError("training started")

    def denied(folder):
        raise PermissionError(errno.EACCES, "Permission denied", str(folder))

    monkeypatch.setattr(runtime, "_probe_write", denied)                         # the folder cannot be written
    with pytest.raises(StorageError, match=r"checkpoint folder.*permission denied.*--checkpoint-dir"):
        CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path / "run", step=step)
    monkeypatch.undo()
    monkeypatch.setenv("COURSE_DATA_DIR", str(monet.parent))
    monkeypatch.setattr(runtime.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(StorageError, match=r"0 MiB free but needs about \d+ MiB"):
        CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path / "run", step=step)
    assert steps == []


def test_training_script_reports_an_unwritable_folder_in_one_line(monet, tmp_path, monkeypatch, capsys):
    from conftest import load_script
    script = load_script("train_cyclegan")

    def denied(folder):
        raise OSError(errno.EROFS, "Read-only file system", str(folder))

    monkeypatch.setattr(runtime, "_probe_write", denied)
    assert script.main(["--preset", "smoke", "--checkpoint-dir", str(tmp_path / "run"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "read-only file system" in err and "Traceback" not in err


# --- 2. image files are checked when a dataset is opened -----------------------------------------------------

def test_damaged_images_are_skipped_at_opening_with_a_warning_naming_them(monet):
    bad = {
        monet / "trainA" / "garbage.jpg": b"this is not an image",
        monet / "trainA" / "truncated.jpg": jpeg_bytes()[:300],
        monet / "trainB" / "truncated.png": png_bytes()[:200],
        monet / "trainB" / "empty.png": b"",
    }
    for path, content in bad.items():
        path.write_bytes(content)
    with pytest.warns(BadImageWarning) as record:
        dataset = m2p.UnpairedImages(monet, "train", load_size=36, crop_size=32)
    message = "\n".join(str(w.message) for w in record)
    assert all(str(path) in message for path in bad), message
    assert len(dataset.a) == 6 and len(dataset.b) == 6
    for i in range(len(dataset)):                                               # a whole epoch, nothing fails
        a, b = dataset[i]
        assert a.shape == b.shape == (3, 32, 32)


def test_image_folder_skips_a_truncated_file_with_its_name(tmp_path):
    (tmp_path / "good.png").write_bytes(png_bytes())
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "cut.jpg").write_bytes(jpeg_bytes()[:400])
    with pytest.warns(BadImageWarning, match="cut.jpg"):
        images = load_image_folder(tmp_path, size=16).tensors[0]
    assert images.shape == (2, 3, 16, 16)


def test_good_images_are_never_called_damaged(tmp_path):
    for fmt, suffix in (("JPEG", "jpg"), ("PNG", "png"), ("BMP", "bmp"), ("WEBP", "webp")):
        path = tmp_path / f"ok.{suffix}"
        Image.new("RGB", (30, 20), (10, 200, 30)).save(path, format=fmt)
        assert image_problem(path) is None, (fmt, image_problem(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                          # no warning for good data
        shared = runtime.data_dir() / "monet2photo"
        for split in ("trainA", "testB") if shared.is_dir() else ():
            for path in sorted((shared / split).iterdir())[:200]:
                assert image_problem(path) is None, path


def test_partial_monet2photo_names_the_missing_folder_and_is_not_downloaded_over(tmp_path, monkeypatch, server):
    shared = tmp_path / "shared"
    tiny_images(shared, counts=(("trainA", 2), ("trainB", 2), ("testA", 1)))
    project = tmp_path / "project"
    monkeypatch.setattr(m2p, "default_data_dir", lambda: project)
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared))
    server.routes["/m.zip"] = (b"never fetched", None)
    with pytest.raises(CorruptFileError) as info:
        m2p.monet2photo_root(urls=[server.url + "m.zip"])
    assert "testB is missing" in str(info.value) and str(shared / "monet2photo") in str(info.value)
    assert server.hits == [] and not project.exists()


# --- 3. cache and data errors are told apart ---------------------------------------------------------------

@pytest.fixture
def fake_source(monkeypatch, fake_mnist, tmp_path):
    _, files, _ = fake_mnist

    class FakeMNIST:
        resources = [(name, md5) for name, (_, md5) in files.items()]
        mirrors = ["http://127.0.0.1:9/"]

    FakeMNIST.__name__ = "MNIST"
    monkeypatch.setitem(mnist_module._DATASETS, "mnist", FakeMNIST)
    project = tmp_path / "project_data"
    monkeypatch.setattr(mnist_module, "default_data_dir", lambda: project)
    monkeypatch.setenv("COURSE_DATA_DIR", str(project))
    return FakeMNIST, files, project


def test_missing_dataset_message_names_files_folder_make_data_and_the_setting(fake_source):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and str(fake_source[2] / "MNIST" / "raw") in message
    assert "make data" in message and "COURSE_DATA_DIR" in message


def test_missing_monet2photo_message_names_the_folders_make_data_and_the_setting(tmp_path, monkeypatch):
    project = tmp_path / "project"
    monkeypatch.setattr(m2p, "default_data_dir", lambda: project)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "shared"))
    with pytest.raises(DatasetNotFoundError) as info:
        m2p.monet2photo_root(urls=["http://127.0.0.1:9/monet2photo.zip"])
    message = str(info.value)
    assert "monet2photo is missing" in message and str(tmp_path / "shared" / "monet2photo") in message
    assert str(project / "monet2photo") in message and "make data" in message and "COURSE_DATA_DIR" in message
    assert "http://127.0.0.1:9/monet2photo.zip" in message


def test_disk_full_cache_is_not_called_corrupt(fake_source, tmp_path):
    _, files, project = fake_source
    write_files(project / "MNIST" / "raw", files)
    raw_cache = tmp_path / "cache" / "MNIST" / "raw"
    raw_cache.mkdir(parents=True)
    # the temporary file the decompression writes is a link to /dev/full: a real "no space left" error
    (raw_cache / f"train-images-idx3-ubyte.tmp{os.getpid()}").symlink_to("/dev/full")
    with pytest.raises(StorageError) as info:
        load_mnist()
    message = str(info.value)
    assert "no space left" in message and "COURSE_CACHE_DIR" in message and "corrupt" not in message
    assert not isinstance(info.value, CorruptFileError)
    assert (project / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").read_bytes() == files[
        "train-images-idx3-ubyte.gz"][0]                                        # the good data is untouched
    assert len(load_mnist()) == 64                                              # and loads once there is room


def test_unwritable_cache_names_course_cache_dir(open_tmp, monkeypatch):
    cache = read_only_folder(open_tmp) / "cache"

    def in_cache():
        os.environ["COURSE_CACHE_DIR"] = str(cache)
        runtime._checked_caches.clear()
        return runtime.cache_dir()

    result = as_nobody(in_cache)
    assert result[0] == "error" and result[1] == "StorageError", result
    assert "COURSE_CACHE_DIR" in result[2] and str(cache) in result[2] and "permission denied" in result[2]


def test_unreadable_dataset_file_is_not_called_corrupt(open_tmp, fake_mnist):
    _, files, _ = fake_mnist
    raw = open_tmp / "MNIST" / "raw"
    write_files(raw, files)
    for folder in (open_tmp / "MNIST", raw):
        folder.chmod(0o755)
    path = raw / "train-images-idx3-ubyte.gz"
    path.chmod(UNREADABLE)
    md5 = files[path.name][1]

    def find():
        os.environ["COURSE_DATA_DIR"] = str(open_tmp)
        return mnist_module._find_or_download("mnist", path.name, md5)

    result = as_nobody(find)
    assert result[0] == "error" and result[1] == "StorageError", result
    assert "cannot be read" in result[2] and "corrupt" not in result[2] and str(path) in result[2]


def test_full_disk_during_a_download_is_not_a_network_error(server, tmp_path):
    server.routes["/f.bin"] = (b"x" * 100_000, None)
    dest = tmp_path / "d" / "f.bin"
    dest.parent.mkdir()
    dest.with_name("f.bin.part").symlink_to("/dev/full")
    with pytest.raises(StorageError, match="no space left"):
        download_file(server.url + "f.bin", dest)
    assert not dest.exists()


# --- 5. a resumed run with a longer schedule uses it ---------------------------------------------------------

def test_resume_with_a_longer_schedule_follows_the_new_schedule(monet, tmp_path):
    CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path).train()   # 3 epochs: lr reaches 0
    longer = CycleGANTrainer(CycleGANConfig(**{**TINY, "n_epochs_decay": 5}), monet, checkpoint_dir=tmp_path)
    assert longer.epoch == 3
    expected = 2e-4 * (1 - (3 + 1 - 1) / 6)                                     # linear_decay of the new schedule
    assert [g["lr"] for g in longer.opt_g.param_groups] == pytest.approx([expected])
    assert [g["lr"] for g in longer.opt_d.param_groups] == pytest.approx([expected])
    before = [p.detach().clone() for p in longer.model.generators()]
    longer.train(epochs=1)
    assert any(not torch.equal(a, b) for a, b in zip(before, longer.model.generators()))   # it trains
    assert longer.history.epochs["lr"][-1] == pytest.approx(2e-4 * (1 - 4 / 6))
    with pytest.raises(CheckpointError, match=r"trained 4 epochs, more than this schedule's 3"):
        CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path)


# --- 16.4: everything restored lands on the trainer's device -------------------------------------------------

def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def _assert_restored_on(trainer, device: torch.device):
    assert trainer.pool_a.images and trainer.pool_b.images
    for image in trainer.pool_a.images + trainer.pool_b.images:
        assert image.device == device
    for opt in (trainer.opt_g, trainer.opt_d):
        for state in opt.state.values():
            for name, value in state.items():
                if name != "step":                                               # Adam keeps its step count on the CPU
                    assert value.device == device, name
    assert all(p.device == device for p in trainer.model.parameters())


def test_resumed_state_is_on_the_trainers_device(monet, tmp_path):
    CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path).train(epochs=1)
    resumed = CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path)
    _assert_restored_on(resumed, resumed.device)
    resumed.train(epochs=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("first,second", [("cpu", "cuda"), ("cuda", "cuda"), ("cuda", "cpu")])
def test_resume_across_devices_on_cuda(monet, tmp_path, first, second):
    config = CycleGANConfig(**TINY, mixed_precision=False)
    CycleGANTrainer(config, monet, device=first, checkpoint_dir=tmp_path).train(epochs=1)
    resumed = CycleGANTrainer(config, monet, device=second, checkpoint_dir=tmp_path)
    _assert_restored_on(resumed, torch.empty(0, device=second).device)          # "cuda" means cuda:0 here
    resumed.train(epochs=1)                                                      # crashed before: CPU pools on CUDA
    if first == second == "cuda":
        assert torch.load(tmp_path / "last.pt", weights_only=True)["cuda_rng"] is not None


# --- 7. the device check, index included ---------------------------------------------------------------------

def test_device_check_rejects_unknown_types_missing_devices_and_indices(monkeypatch):
    with pytest.raises(ValueError, match=r"'banana' is not a device name.*use one of cpu"):
        runtime.check_device("banana")
    with pytest.raises(ValueError, match="runs on cpu, cuda, mps only"):
        runtime.check_device("meta")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no cuda device is available here; this machine has cpu"):
        runtime.check_device("cuda:7", setting="--device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"--device='cuda:7' but this machine has 1 cuda device \(index 0\)"):
        runtime.check_device("cuda:7", setting="--device")
    assert runtime.check_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="1 cpu device"):
        runtime.check_device("cpu:1")
    monkeypatch.setenv("COURSE_DEVICE", "cuda:3")
    with pytest.raises(ValueError, match="COURSE_DEVICE='cuda:3'"):
        runtime.get_device()


@pytest.mark.parametrize("device,expected", [("banana", "not a device name"), ("cuda:7", "cuda")])
def test_training_script_checks_the_device_first(monet, tmp_path, capsys, device, expected):
    from conftest import load_script
    script = load_script("train_cyclegan")
    code = script.main(["--preset", "smoke", "--checkpoint-dir", str(tmp_path / "run"), "--device", device])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --device=") and expected in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()                                      # nothing was started


def test_decompressed_cache_copy_that_is_damaged_is_replaced(fake_source, tmp_path):
    _, files, project = fake_source
    write_files(project / "MNIST" / "raw", files)
    assert len(load_mnist()) == 64
    cached = tmp_path / "cache" / "MNIST" / "raw" / "train-images-idx3-ubyte"
    cached.write_bytes(cached.read_bytes()[:100])
    with pytest.warns(UserWarning, match="cache copy"):
        assert len(load_mnist()) == 64
    assert gzip.decompress(files["train-images-idx3-ubyte.gz"][0]) == cached.read_bytes()
