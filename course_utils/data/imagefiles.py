"""Image files on disk: which files of a folder are images, and a cheap check that each one is whole.

Used by :mod:`.images` (04-05) and :mod:`.monet2photo` (06) when a dataset is opened, so that a
corrupt or truncated file is reported (and skipped) before training starts, never mid-epoch.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_JPEG_END = b"\xff\xd9"   # the end-of-image marker every complete JPEG file has near its end


class BadImageWarning(UserWarning):
    """Some image files of a dataset were skipped because they are corrupt or truncated."""


def list_images(folder: Path | str) -> list[Path]:
    """The image files of ``folder``, sorted by name (none if the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


def image_problem(path: Path | str) -> str | None:
    """What is wrong with the image file ``path``, or ``None`` if it looks whole.

    Reads the header and lets Pillow's ``verify()`` check the structure (PNG: every chunk's CRC up to
    the end); for a JPEG, whose ``verify()`` does not look past the header, also checks that the file
    ends with the end-of-image marker (a truncated copy does not). Cost: the header and the last bytes
    (JPEG), or one pass over the file without decoding pixels (PNG).
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            fmt, (width, height) = image.format, image.size
            image.verify()
        if width == 0 or height == 0:
            return "it has no pixels"
        if fmt == "JPEG":
            with open(path, "rb") as handle:
                handle.seek(max(0, path.stat().st_size - 64))
                if _JPEG_END not in handle.read():
                    return "it is truncated (no JPEG end marker)"
    except UnidentifiedImageError:
        return "it is not an image Pillow can read"
    except PermissionError as err:
        return f"it cannot be read ({err.strerror.lower() if err.strerror else err})"
    except Exception as err:  # noqa: BLE001 - Pillow raises SyntaxError, OSError, struct.error... for damage
        return f"it is damaged ({type(err).__name__}: {err})"
    return None


def checked_images(paths: list[Path], *, what: str = "images") -> list[Path]:
    """``paths`` without the files :func:`image_problem` rejects, with one :class:`BadImageWarning`
    naming each skipped file and why (delete or replace them to silence it)."""
    good, bad = [], []
    for path in paths:
        problem = image_problem(path)
        (good.append(path) if problem is None else bad.append(f"{path}: {problem}"))
    if bad:
        listed = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        warnings.warn(f"skipped {len(bad)} of {len(paths)} {what} that cannot be used:\n  {listed}\n"
                      "Replace these files with good copies (or delete them) to silence this warning.",
                      BadImageWarning, stacklevel=3)
    return good
