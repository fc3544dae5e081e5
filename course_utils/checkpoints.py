"""Saving and loading trained weights: atomic writes, safe loads (``weights_only=True``), clear errors.

Every checkpoint the course reads goes through :func:`load_state` (and :func:`load_into` for the
weights): a missing, unreadable, truncated or damaged file, a file of another layout or architecture,
and a file whose Python objects ``weights_only=True`` refuses all end in one message that names the
file and the way out. Every checkpoint it writes goes through :func:`atomic_save`: a temporary file,
flushed and fsynced, renamed over the real name, the folder fsynced; a failed save leaves the earlier
file as it was, and temporary files of earlier, killed runs are removed.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from .runtime import StorageError, cache_dir, check_writable, is_storage_error, storage_error

NOTEBOOK_FIX = "Delete it and run the notebook that writes it again."
_TEMPORARY = re.compile(r"\.tmp(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint file exists but cannot be used: truncated or damaged, another layout, another
    architecture or other settings, or Python objects that ``weights_only=True`` refuses. The message
    names the file and the way out."""


def checkpoint_path(name: str) -> Path:
    """``<cache>/checkpoints/<name>.pt``: where :func:`save_checkpoint` puts ``name``."""
    return cache_dir() / "checkpoints" / f"{name}.pt"


def _resolve(name_or_path: str | Path) -> Path:
    return Path(name_or_path) if Path(name_or_path).suffix else checkpoint_path(str(name_or_path))


def save_checkpoint(model: nn.Module, name_or_path: str | Path, **info: float | int | str) -> Path:
    """Write ``model.state_dict()`` and ``info`` (plain numbers and strings) atomically; return the path.

    A bare name goes to :func:`checkpoint_path`; a path (with a suffix) is used as given.
    """
    return atomic_save({"state_dict": model.state_dict(), "info": info}, _resolve(name_or_path))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False          # ours, left by an earlier save of this process that failed
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's live process
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete ``<path>.tmp<pid>`` files left beside ``path`` by saves that were killed (their process
    is gone); a live process's temporary file is left alone. Returns what was removed."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.glob(f"{path.name}.tmp*"):
        match = _TEMPORARY.search(candidate.name)
        if match and candidate.name == f"{path.name}.tmp{match.group(1)}" and not _pid_alive(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: object, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync it, rename it over ``path``, fsync the
    folder: an interrupted or failed save never leaves a truncated file under the real name, and the
    file that was there before stays as it was.

    Temporary files of earlier saves that were killed are removed first. A folder that cannot be
    written or a full disk is a :class:`~course_utils.runtime.StorageError` naming the folder.
    """
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except OSError as err:
        if is_storage_error(err) and not isinstance(err, StorageError):
            kept = " The earlier file there is unchanged." if path.is_file() else ""
            raise storage_error(err, path.parent, f"the checkpoint {path.name}",
                                f"Free some space or choose a writable folder.{kept}") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


def state_bytes(obj: object) -> int:
    """Bytes of all tensors in ``obj`` (nested dicts, lists, tuples): about the size of its checkpoint."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(state_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_bytes(v) for v in obj)
    return 0


def check_checkpoint_dir(folder: str | Path, need_bytes: int = 0, *,
                         fix: str = "Choose another checkpoint folder, or fix this one's permissions.") -> Path:
    """Make sure the checkpoint folder exists, can be written and has ``need_bytes`` free: called by
    trainers and scripts before the first iteration, so that no training is lost to a folder that
    cannot take its checkpoint. Raises :class:`~course_utils.runtime.StorageError`."""
    return check_writable(folder, need_bytes=need_bytes, what="the checkpoint folder", fix=fix)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    for line in text.splitlines():   # torch's weights_only message: the line that says what it refused
        if "Unsupported global" in line or "Unsupported operand" in line:
            return line.strip().removeprefix("WeightsUnpickler error: ")
    return (text.splitlines() or [type(err).__name__])[0][:200]


def load_state(path: str | Path, *, map_location: str | torch.device = "cpu", what: str = "checkpoint",
               fix: str = NOTEBOOK_FIX, keys: Iterable[str] = ()) -> dict:
    """``torch.load(path, weights_only=True)``, every failure turned into one message with ``path``,
    what went wrong and ``fix`` (the way out: ``--fresh``, the kept ``previous.pt``, the script that
    rebuilds the file...).

    Raises ``FileNotFoundError`` (no file), :class:`~course_utils.runtime.StorageError` (it cannot be
    read: permissions), or :class:`CheckpointError`: truncated or damaged; Python objects refused by
    the safe loader (never retried with ``weights_only=False``, which could run code from the file);
    or another layout (not a dict holding every name in ``keys``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}. {fix}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower() and "Unsupported operand" not in str(err):
            raise CheckpointError(
                f"{path} holds Python objects that the safe loader refuses ({_first_line(err)}): it was not "
                f"written by the course's save functions. The course loads {what}s with weights_only=True "
                f"only, since loading anything else can run code stored in the file. {fix}") from None
        raise CheckpointError(f"{path} is damaged ({_first_line(err)}); it is not a readable {what}. {fix}") from None
    except OSError as err:
        if is_storage_error(err):
            raise storage_error(err, path, f"the {what}", "Fix the file's permissions.", reading=True) from None
        raise CheckpointError(f"{path} is truncated or damaged ({type(err).__name__}: {_first_line(err)}). "
                              f"{fix}") from None
    except (RuntimeError, EOFError, KeyError, ValueError, IndexError, zipfile.BadZipFile, AttributeError) as err:
        raise CheckpointError(f"{path} is truncated or damaged, not a readable {what} ({type(err).__name__}: "
                              f"{_first_line(err) or 'unexpected end of file'}). {fix}") from None
    keys = tuple(keys)
    if keys and (not isinstance(state, dict) or any(k not in state for k in keys)):
        found = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} has another layout than a {what}: it holds {found}, a {what} holds "
                              f"{sorted(keys)}. {fix}")
    return state


def load_into(module: nn.Module, state_dict: dict, path: str | Path, *, what: str = "checkpoint",
              fix: str = NOTEBOOK_FIX) -> None:
    """``module.load_state_dict(state_dict)``; weights of another architecture (missing or unexpected
    names, other shapes) raise :class:`CheckpointError` naming ``path``, the first differences and ``fix``."""
    try:
        module.load_state_dict(state_dict)
    except (RuntimeError, KeyError, TypeError, AttributeError) as err:
        lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()] or [str(err)]
        detail = "; ".join(line[:160] for line in lines[:3])
        raise CheckpointError(f"{path} holds the weights of another architecture than this "
                              f"{type(module).__name__} ({detail}). {fix}") from None


def load_checkpoint(model: nn.Module, name_or_path: str | Path, map_location: str | torch.device = "cpu",
                    *, fix: str = NOTEBOOK_FIX) -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model`` (tensors only: ``weights_only=True``).

    Returns the ``info`` dict. Raises ``FileNotFoundError`` naming the path if there is none, and
    :class:`CheckpointError` (with ``fix``) if the file is damaged, of another layout or architecture.
    """
    path = _resolve(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; run the notebook that trains it first.")
    payload = load_state(path, map_location=map_location, fix=fix, keys=("state_dict", "info"))
    load_into(model, payload["state_dict"], path, fix=fix)
    return payload["info"]
