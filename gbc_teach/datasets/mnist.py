"""Real images for the experiments (docs/method.md §9): MNIST IDX files and the paper's split.

MNIST comes from `data_dir` if given (used or refused, never passed over), else from a set
`$GBC_DATA_DIR` (likewise), else from ./data or the repo's `data/`; only with no data configured
anywhere do we fall back to scikit-learn's bundled 8x8 digits, and say so loudly. Every file is
checked at load time (shape, type, labels 0–9). Notebook: 05_mnist §1.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..utils import atomic_write_bytes, sweep_stale_tmp
from .idx import gunzip_md5, read_mnist_pair

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# MD5 of the official .gz files, and of their decompressed content: mirrors sometimes re-gzip
# (a new gzip header changes the first hash), so the content hash is the one that must hold.
MNIST_MD5_GZ = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MAX_MNIST_BYTES = 47_040_016  # train-images-idx3-ubyte, the largest of the four
MNIST_MD5_RAW = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}


# ---------------------------------------------------------------------------- MNIST files
MIN_PER_DIGIT = 6  # the experiments draw four balanced sets and an evaluator share of each digit


def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        p = folder / name
        if p.is_file():
            return p
        if p.exists():  # a folder (or socket...) where the file should be is a mistake, not absence
            raise ValueError(f"{p} is not a file; expected the IDX file {name} there")
    return None


def load_mnist_split(folder: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split ('train' or 'test')."""
    folder = Path(folder)
    stems = MNIST_FILES[split]
    paths = [_idx_path(folder, s) for s in stems]
    for stem, p in zip(stems, paths):
        if p is None:
            raise FileNotFoundError(f"{folder / stem}[.gz] not found")
    return read_mnist_pair(*paths)


# ---------------------------------------------------------------------------- finding MNIST
def _has_mnist(folder: Path) -> bool:
    return any(_idx_path(folder, imgs) for imgs, _ in MNIST_FILES.values())


def _repo_data_dirs() -> list[Path]:
    return [Path.cwd() / "data", Path(__file__).resolve().parents[1] / "data"]


def find_mnist_dir(data_dir: str | os.PathLike | None = None, flag: str = "data_dir") -> Path | None:
    """Folder with MNIST IDX files, or None when no data is configured anywhere.

    A given `data_dir` (the CLI's --data, named `flag` in errors) is used or refused, never
    passed over; else a set $GBC_DATA_DIR the same way; else ./data or the repo's data/ (each
    folder or its mnist/), silently skipped when they hold no MNIST.
    """
    if data_dir is not None:
        return _configured_dir(Path(data_dir), f"{flag} {data_dir}")
    env = os.environ.get("GBC_DATA_DIR")
    if env:
        return _configured_dir(Path(env), f"$GBC_DATA_DIR={env}")
    for root in _repo_data_dirs():
        for folder in (root, root / "mnist"):
            if _has_mnist(folder):
                return folder
    return None


def _configured_dir(root: Path, what: str) -> Path:
    if not root.exists():
        raise FileNotFoundError(f"{what}: no such folder")
    if not root.is_dir():
        raise NotADirectoryError(f"{what}: not a folder")
    for folder in (root, root / "mnist"):
        if _has_mnist(folder):
            return folder
    raise FileNotFoundError(
        f"{what}: no MNIST IDX files in it or in its mnist/ (looked for "
        f"{MNIST_FILES['test'][0]}[.gz] and {MNIST_FILES['train'][0]}[.gz]); "
        "`gbc-teach data download mnist --dest DIR` fetches them")


def default_data_dir() -> Path:
    """Where downloads go: $GBC_DATA_DIR, else the repo's data/ folder."""
    env = os.environ.get("GBC_DATA_DIR")
    return Path(env) if env else _repo_data_dirs()[1]


@dataclass
class MnistData:
    """Digits (N, 28, 28) uint8, labels (N,) int64, which split they are, where they came from."""

    images: np.ndarray
    labels: np.ndarray
    split: str  # "train", "test", "train+test" (train first) or "sklearn-digits-fallback"
    source: str


def sklearn_digits_28() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1797, 16 grey levels) upsampled to 28x28 uint8."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
    x = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8).squeeze(1).numpy()
    return images, d.target.astype(np.int64)


def load_mnist(data_dir: str | os.PathLike | None = None) -> MnistData:
    """Every MNIST split found (see `find_mnist_dir`), else the sklearn digits with a warning."""
    folder = find_mnist_dir(data_dir)
    if folder is None:
        warnings.warn(
            "NO MNIST FOUND: no data is configured anywhere (no data folder given, no "
            "$GBC_DATA_DIR, no MNIST in ./data): falling back to scikit-learn's 1797 8x8 digits "
            "upsampled to 28x28. Results are NOT MNIST results; run `gbc-teach data download "
            "mnist` or set GBC_DATA_DIR.", stacklevel=2)
        images, labels = sklearn_digits_28()
        return MnistData(images, labels, "sklearn-digits-fallback", "sklearn.datasets.load_digits")
    present = [s for s, (imgs, _) in MNIST_FILES.items() if _idx_path(folder, imgs)]
    parts = [load_mnist_split(folder, s) for s in present]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    counts = np.bincount(labels, minlength=10)
    if counts.min() < MIN_PER_DIGIT:
        d = int(counts.argmin())
        raise ValueError(f"MNIST data in {folder} has {counts[d]} images of digit {d}; the "
                         f"experiments need every digit 0–9, at least {MIN_PER_DIGIT} of each")
    return MnistData(images, labels, "+".join(present), str(folder))


def to_float_images(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 tensor (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)


# ---------------------------------------------------------------------------- download
def _urlopen_bytes(url: str, timeout: float = 60.0) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "gbc-teach"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def verify_mnist_file(name: str, data: bytes) -> None:
    """Raise ValueError naming `name` unless `data` has its official MD5 (gz or content)."""
    if hashlib.md5(data).hexdigest() == MNIST_MD5_GZ[name]:
        return
    try:
        got = gunzip_md5(data, MAX_MNIST_BYTES)
    except zlib.error as e:
        raise ValueError(f"checksum mismatch for {name}: not a valid gzip file ({e})") from e
    if got != MNIST_MD5_RAW[name]:
        raise ValueError(f"checksum mismatch for {name}: content MD5 {got}, "
                         f"expected {MNIST_MD5_RAW[name]}")


def mnist_download(dest_dir: str | os.PathLike, fetch=_urlopen_bytes,
                   names=tuple(MNIST_MD5_GZ), mirrors=MNIST_MIRRORS) -> Path:
    """Download the four MNIST .gz files into `dest_dir`, checksummed, written atomically."""
    dest = Path(dest_dir)
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"download folder {dest} exists and is not a folder")
    sweep_stale_tmp(dest)  # temp files of a download that was killed
    for name in names:
        target = dest / name
        if target.is_file():
            try:  # an earlier download that verifies is kept
                verify_mnist_file(name, target.read_bytes())
                continue
            except ValueError:
                pass
        errors, data = [], None
        for mirror in mirrors:
            try:
                candidate = fetch(mirror + name)
                verify_mnist_file(name, candidate)
                data = candidate
                break
            except (OSError, ValueError) as e:  # URLError is an OSError; try the next mirror
                errors.append(e)
        if data is None:
            bad = [e for e in errors if isinstance(e, ValueError)]
            if bad:
                raise ValueError(f"{name}: every download failed its checksum: {bad[0]}")
            raise OSError(f"could not download {name} from {list(mirrors)}: {errors}")
        atomic_write_bytes(data, target)
    return dest


# ---------------------------------------------------------------------------- paper split
def _take_balanced(rng: np.random.Generator, labels: np.ndarray, free: np.ndarray,
                   n: int) -> np.ndarray:
    """`n` free indices, as equal per class as the free images allow, then random fill."""
    classes = np.unique(labels)
    quota = np.full(len(classes), n // len(classes))
    quota[: n % len(classes)] += 1
    taken = []
    for c, q in zip(classes, quota):
        idx = np.flatnonzero(free & (labels == c))
        taken.append(rng.permutation(idx)[:q])
    taken = np.concatenate(taken).astype(np.int64)
    short = n - len(taken)
    if short > 0:  # some class ran out: top up from whatever is left
        left = np.setdiff1d(np.flatnonzero(free), taken)
        if len(left) < short:
            raise ValueError(f"need {n} images but only {len(taken) + len(left)} are left")
        taken = np.concatenate([taken, rng.choice(left, short, replace=False)])
    return np.sort(taken)


def paper_split(labels, n_per_class: int = 50, n_pool: int = 500, n_eval: int | None = 6000,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Disjoint index sets: train (n_per_class a class), pool_a, pool_b (n_pool each), evaluator."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    free = np.ones(len(labels), dtype=bool)
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < n_per_class:
        raise ValueError(f"class {classes[counts.argmin()]} has {counts.min()} images, "
                         f"fewer than n_per_class={n_per_class}")
    out = {}
    out["train"] = _take_balanced(rng, labels, free, n_per_class * len(classes))
    free[out["train"]] = False
    for pool in ("pool_a", "pool_b"):
        out[pool] = _take_balanced(rng, labels, free, n_pool)
        free[out[pool]] = False
    rest = rng.permutation(np.flatnonzero(free))
    out["evaluator"] = np.sort(rest if n_eval is None else rest[:n_eval]).astype(np.int64)
    return out


def split_as_json(split: dict[str, np.ndarray]) -> dict[str, list[int]]:
    """The split as plain lists, for metrics.json."""
    return {k: [int(i) for i in v] for k, v in split.items()}
