"""Bad MNIST data is refused at load time, by the function and by the CLI, naming the culprit.

The data folder given (--data, $GBC_DATA_DIR) is used or refused; labels, shapes and types are
checked before training; a gzip file is never inflated beyond what its IDX header declares.
"""

import gzip
import re
import struct
import tracemalloc

import numpy as np
import pytest

from gbc_teach.cli import main
from gbc_teach.datasets import idx
from gbc_teach.datasets import mnist as mnist_ds
from gbc_teach.datasets.idx import mnist_images_header, read_idx

IMAGES, LABELS = mnist_ds.MNIST_FILES["test"]


def idx_bytes(arr: np.ndarray, type_byte: int = 0x08) -> bytes:
    """arr in the IDX format: magic 0 0 type ndim, big-endian dims, big-endian data."""
    dtype = np.dtype(idx.IDX_DTYPES[type_byte])
    head = bytes([0, 0, type_byte, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(dtype).tobytes()


def write_split(folder, images=None, labels=None, img_type=0x08, lab_type=0x08, n=100):
    """A small test split; images/labels replace the valid defaults (n images, digits i % 10)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28)) if images is None else images
    labels = np.arange(n) % 10 if labels is None else labels
    (folder / IMAGES).write_bytes(idx_bytes(np.asarray(images), img_type))
    (folder / LABELS).write_bytes(idx_bytes(np.asarray(labels), lab_type))
    return folder


@pytest.fixture
def env(no_mnist):
    """No data configured anywhere, caches in tmp_path (conftest.no_mnist); returns tmp_path."""
    return no_mnist


def run_mnist_cli(tmp_path, data_dir, capsys, cmd="mnist") -> tuple[int, str]:
    out = tmp_path / "outputs" / "run"
    rc = main([cmd, "--fast", "--quiet", "--data", str(data_dir), "--out", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "outputs").exists()  # nothing left behind
    return rc, err


# ---------------------------------------------------------------------------- 1. --data
@pytest.mark.parametrize("case", ["missing", "empty", "file", "dir-as-images"])
def test_given_data_folder_is_used_or_refused(env, monkeypatch, capsys, case):
    good = write_split(env / "good")
    monkeypatch.setenv("GBC_DATA_DIR", str(good))  # valid data elsewhere must not be used
    bad = env / "typo"
    if case == "empty":
        bad.mkdir()
    elif case == "file":
        bad.write_text("x")
    elif case == "dir-as-images":
        write_split(bad)
        (bad / IMAGES).unlink()
        (bad / IMAGES).mkdir()
    rc, err = run_mnist_cli(env, bad, capsys)
    assert rc == 1 and err.count("error:") == 1
    assert str(bad) in err
    expect = {"missing": "--data .*no such folder", "empty": "--data .*no MNIST IDX files",
              "file": "--data .*not a folder", "dir-as-images": f"{IMAGES} is not a file"}[case]
    assert re.search(expect, err), err


def test_env_data_dir_is_authoritative_and_fallback_only_when_unconfigured(env, monkeypatch):
    write_split(env / "data" / "mnist")
    monkeypatch.setattr(mnist_ds, "_repo_data_dirs", lambda: [env / "data"])
    monkeypatch.setenv("GBC_DATA_DIR", str(env / "empty"))
    (env / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"\$GBC_DATA_DIR=.*empty.*no MNIST"):
        mnist_ds.load_mnist()
    monkeypatch.delenv("GBC_DATA_DIR")
    assert mnist_ds.load_mnist().source == str(env / "data" / "mnist")
    monkeypatch.setattr(mnist_ds, "_repo_data_dirs", lambda: [env / "nothing"])
    with pytest.warns(UserWarning, match="no data is configured anywhere"):
        assert mnist_ds.load_mnist().split == "sklearn-digits-fallback"


# ---------------------------------------------------------------------------- 2. labels, shapes
BAD = {
    "labels>=10": (dict(labels=np.full(100, 255)), LABELS, "values up to 255; MNIST labels are 0–9"),
    "negative": (dict(labels=np.arange(100) % 10 - 3, lab_type=0x09), LABELS,
                 r"negative values \(down to -3\)"),
    "float labels": (dict(labels=np.arange(100) % 10 + 0.5, lab_type=0x0D), LABELS,
                     "float32 values; MNIST labels are whole numbers"),
    "9 classes": (dict(labels=np.arange(100) % 9), "", "0 images of digit 9"),
    "32x32": (dict(images=np.zeros((100, 32, 32))), IMAGES, "32×32 images; MNIST images are 28×28"),
    "no images": (dict(images=np.zeros((0, 28, 28)), labels=np.zeros(0)), IMAGES, "holds no images"),
    "int32 images": (dict(images=np.zeros((100, 28, 28)), img_type=0x0C), IMAGES,
                     "int32 values; MNIST images are unsigned bytes"),
    "count mismatch": (dict(labels=np.arange(99) % 10), LABELS, "100 images but .* 99 labels"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_labels_and_shapes_refused_at_load(env, capsys, case):
    kw, culprit, message = BAD[case]
    folder = write_split(env / "mnist", **kw)
    with pytest.raises(ValueError, match=message):
        mnist_ds.load_mnist(folder)
    rc, err = run_mnist_cli(env, folder, capsys)
    assert rc == 1 and err.count("error:") == 1
    assert str(folder / culprit) in err and re.search(message, err), err


def test_mnist_multi_shares_the_checks(env, capsys):
    folder = write_split(env / "mnist", labels=np.full(100, 12))
    rc, err = run_mnist_cli(env, folder, capsys, cmd="mnist-multi")
    assert rc == 1 and f"labels file {folder / LABELS} holds values up to 12" in err
    rc, err = run_mnist_cli(env, env / "typo", capsys, cmd="mnist-multi")
    assert rc == 1 and "--data" in err and "typo: no such folder" in err


# ---------------------------------------------------------------------------- 3. gzip bombs
def _peak_bytes(fn) -> tuple[int, str]:
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as e:
            fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, str(e.value)


def test_gzip_bomb_never_inflated_beyond_the_header(tmp_path):
    # 10 labels declared, then 64 MiB of zeros: a ~64 KB file the old reader inflated whole
    bomb = tmp_path / "bomb.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(idx_bytes(np.arange(10)))
        f.write(bytes(64 << 20))
    assert bomb.stat().st_size < (1 << 20)
    peak, msg = _peak_bytes(lambda: idx.read_idx(bomb))
    assert "bomb.gz" in msg and "trailing bytes" in msg
    assert peak < 8 << 20, peak  # a chunk or two, not 64 MiB

    # a header declaring 47 MB of images in a 100-byte file: refused before any allocation
    liar = tmp_path / "liar.gz"
    liar.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 28)))
    peak, msg = _peak_bytes(lambda: idx.read_idx(liar))
    assert "liar.gz" in msg and "truncated" in msg and peak < 1 << 20


def test_bad_shape_refused_from_the_header_alone(tmp_path):
    # 32x32 images: refused after reading 16 header bytes, the 100 MB body never inflated
    path = tmp_path / IMAGES
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 100_000, 32, 32))
        f.write(bytes(100_000 * 32 * 32))
    peak, msg = _peak_bytes(lambda: read_idx(path, mnist_images_header(path)))
    assert "32×32" in msg and peak < 1 << 20


def test_download_check_is_bounded():
    # a mirror's file that inflates to 128 MiB is hashed a chunk at a time, never held whole
    name = "t10k-labels-idx1-ubyte.gz"
    bomb = gzip.compress(bytes(128 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"checksum mismatch for {name}"):
            mnist_ds.verify_mnist_file(name, bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak
