"""Unit tests run offline, without the real datasets, on the CPU, with a non-interactive backend."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import gzip  # noqa: E402
import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import http.server  # noqa: E402
import threading  # noqa: E402
import struct  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Every test gets its own cache folder, CPU device and no COURSE_* settings from outside."""
    for name in ("COURSE_MODE", "COURSE_DEVICE", "COURSE_DATA_DIR", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    torch.manual_seed(0)
    yield
    plt.close("all")


def random_digits(n: int):
    """``n`` MNIST-shaped random images ``[n, 1, 28, 28]`` in [0, 1) with random labels ``[n]``, seed 0, as a dataset."""
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(10, (n,), generator=g))


def tiny_monet2photo(data: Path) -> Path:
    """Write a tiny monet2photo under ``data``: 6 training and 3 test images per domain, 40×44 random pixels."""
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for split, n in (("trainA", 6), ("trainB", 6), ("testA", 3), ("testB", 3)):
        folder = data / "monet2photo" / split
        folder.mkdir(parents=True)
        for i in range(n):
            pixels = torch.randint(0, 256, (40, 44, 3), generator=g, dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return data / "monet2photo"


def idx_images(images: torch.Tensor) -> bytes:
    """uint8 ``[N, 28, 28]`` → the bytes of an IDX3 file (magic 2051)."""
    n, rows, cols = images.shape
    return struct.pack(">IIII", 2051, n, rows, cols) + images.to(torch.uint8).numpy().tobytes()


def idx_labels(labels: torch.Tensor) -> bytes:
    """uint8 ``[N]`` → the bytes of an IDX1 file (magic 2049)."""
    return struct.pack(">II", 2049, len(labels)) + labels.to(torch.uint8).numpy().tobytes()


@pytest.fixture
def fake_mnist(tmp_path):
    """A small MNIST-format dataset: ``(root, {filename: (gz bytes, md5)}, images, labels)``.

    Train split: 64 images; test split: 16. Pixel values encode the index so order is checkable.
    """
    files = {}
    tensors = {}
    for prefix, n in (("train", 64), ("t10k", 16)):
        images = (torch.arange(n).view(n, 1, 1) * 3 % 256).expand(n, 28, 28).contiguous()
        labels = torch.arange(n) % 10
        tensors[prefix] = (images, labels)
        for kind, payload in (("images-idx3", idx_images(images)), ("labels-idx1", idx_labels(labels))):
            name = f"{prefix}-{kind}-ubyte.gz"
            data = gzip.compress(payload, mtime=0)
            files[name] = (data, hashlib.md5(data).hexdigest())
    root = tmp_path / "fake_data"
    return root, files, tensors


def write_files(folder: Path, files: dict[str, tuple[bytes, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)


class Server:
    """A local HTTP server: ``routes[path] = (body, declared_length or None)``."""

    def __init__(self):
        self.routes: dict[str, tuple[bytes, int | None]] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                if self.path not in routes:
                    self.send_error(404)
                    return
                body, declared = routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(declared if declared is not None else len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def load_script(name: str):
    """``scripts/<name>.py`` imported as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    """scripts/benchmark.py as a module."""
    return load_script("benchmark")
