"""IDX reading, MNIST discovery and fallback, checksummed download, paper split, CelebA layout."""

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gbc_teach.datasets import celeba, idx
from gbc_teach.datasets import mnist as mnist_ds


def official_test_split_dir() -> Path | None:
    """The folder of $GBC_DATA_DIR (set by .ci/run) that holds MNIST's official test split and
    no training split, or None (the test below then skips)."""
    env = os.environ.get("GBC_DATA_DIR")
    for folder in (Path(env), Path(env) / "mnist") if env else ():
        if (folder / "t10k-images-idx3-ubyte.gz").is_file() and not any(folder.glob("train-*")):
            return folder
    return None


TEST_SPLIT = official_test_split_dir()


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic 0x00 0x00 0x08 ndim, big-endian dims)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_mnist(folder: Path, split: str, n: int, gz: bool, seed: int = 0, n_labels=None):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n if n_labels is None else n_labels) % 10).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, arr in zip(mnist_ds.MNIST_FILES[split], (images, labels)):
        raw = idx_bytes(arr)
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(idx_bytes(arr)) if gz else idx_bytes(arr))
    out = idx.read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)


def test_read_idx_big_endian_int32(tmp_path):
    arr = np.array([1, -2, 70000], dtype=">i4")
    path = tmp_path / "b.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3) + arr.tobytes())
    np.testing.assert_array_equal(idx.read_idx(path), [1, -2, 70000])


def test_read_idx_wrong_magic(tmp_path):
    path = tmp_path / "bad-magic"
    path.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="bad-magic.*magic"):
        idx.read_idx(path)


def test_read_idx_truncated(tmp_path):
    raw = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    (tmp_path / "cut").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="cut.*truncated"):
        idx.read_idx(tmp_path / "cut")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw)[:-20])  # a cut-off gzip stream
    with pytest.raises(ValueError, match=r"cut\.gz"):
        idx.read_idx(tmp_path / "cut.gz")


def test_count_mismatch(tmp_path):
    write_mnist(tmp_path, "test", n=12, gz=False, n_labels=11)
    with pytest.raises(ValueError, match="12 images.*11 labels"):
        mnist_ds.load_mnist_split(tmp_path, "test")


def test_load_mnist_splits_and_gz(tmp_path):
    imgs, labels = write_mnist(tmp_path / "mnist", "test", n=60, gz=True)
    d = mnist_ds.load_mnist(tmp_path)  # the parent of mnist/ works too
    assert d.split == "test" and d.source == str(tmp_path / "mnist")
    assert d.images.dtype == np.uint8 and d.labels.dtype == np.int64
    np.testing.assert_array_equal(d.images, imgs)
    np.testing.assert_array_equal(d.labels, labels)
    train_imgs, _ = write_mnist(tmp_path / "mnist", "train", n=70, gz=False, seed=1)
    d = mnist_ds.load_mnist(tmp_path / "mnist")
    assert d.split == "train+test" and len(d.images) == 130
    np.testing.assert_array_equal(d.images[:70], train_imgs)  # train comes first


def test_find_mnist_dir_order(tmp_path, monkeypatch):
    write_mnist(tmp_path / "env" / "mnist", "test", n=10, gz=True)
    write_mnist(tmp_path / "explicit", "test", n=10, gz=False)
    monkeypatch.setattr(mnist_ds, "_repo_data_dirs", lambda: [tmp_path / "nothing"])
    monkeypatch.delenv("GBC_DATA_DIR", raising=False)
    assert mnist_ds.find_mnist_dir() is None
    monkeypatch.setenv("GBC_DATA_DIR", str(tmp_path / "env"))
    assert mnist_ds.find_mnist_dir() == tmp_path / "env" / "mnist"
    assert mnist_ds.find_mnist_dir(tmp_path / "explicit") == tmp_path / "explicit"
    # a given folder is used or refused, never passed over for the environment variable
    with pytest.raises(FileNotFoundError, match="nothing: no such folder"):
        mnist_ds.find_mnist_dir(tmp_path / "nothing")


def test_fallback_to_sklearn_digits(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_ds, "_repo_data_dirs", lambda: [tmp_path])
    monkeypatch.delenv("GBC_DATA_DIR", raising=False)
    with pytest.warns(UserWarning, match="NO MNIST FOUND"):
        d = mnist_ds.load_mnist()
    assert d.split == "sklearn-digits-fallback"
    assert d.images.shape == (1797, 28, 28) and d.images.dtype == np.uint8
    assert d.images.max() == 255 and d.images.min() == 0
    assert set(np.unique(d.labels)) == set(range(10))


@pytest.mark.skipif(TEST_SPLIT is None, reason="$GBC_DATA_DIR holds no MNIST test split alone")
def test_shared_mnist_test_split():
    d = mnist_ds.load_mnist(TEST_SPLIT)
    assert d.split == "test" and d.images.shape == (10000, 28, 28)
    assert np.bincount(d.labels).tolist()[:2] == [980, 1135]  # the official test-set counts
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        mnist_ds.verify_mnist_file(name, (TEST_SPLIT / name).read_bytes())  # re-gzipped, same content


def test_download_verifies_checksums(tmp_path, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    good = gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8)))
    monkeypatch.setitem(mnist_ds.MNIST_MD5_GZ, name, "0" * 32)
    monkeypatch.setitem(mnist_ds.MNIST_MD5_RAW, name, hashlib.md5(gzip.decompress(good)).hexdigest())
    urls = []

    def fetch(url):
        urls.append(url)
        return good

    mnist_ds.mnist_download(tmp_path, fetch=fetch, names=[name])
    assert (tmp_path / name).read_bytes() == good and urls[0].endswith(name)
    mnist_ds.mnist_download(tmp_path, fetch=fetch, names=[name])
    assert len(urls) == 1  # a file that verifies is not downloaded again

    with pytest.raises(ValueError, match=f"checksum mismatch for {name}"):
        mnist_ds.mnist_download(tmp_path / "bad", fetch=lambda url: good[:-1] + b"x", names=[name])
    assert not (tmp_path / "bad" / name).exists()  # nothing half-written


def test_download_tries_next_mirror(tmp_path, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    good = gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8)))
    monkeypatch.setitem(mnist_ds.MNIST_MD5_GZ, name, hashlib.md5(good).hexdigest())

    def fetch(url):
        if url.startswith("https://down/"):
            raise OSError("mirror down")
        return good

    mnist_ds.mnist_download(tmp_path, fetch=fetch, names=[name], mirrors=("https://down/", "https://up/"))
    assert (tmp_path / name).read_bytes() == good
    with pytest.raises(OSError, match="could not download"):
        mnist_ds.mnist_download(tmp_path / "x", fetch=fetch, names=[name], mirrors=("https://down/",))


def test_paper_split_disjoint_balanced():
    labels = np.repeat(np.arange(10), 1000)
    np.random.default_rng(0).shuffle(labels)
    sp = mnist_ds.paper_split(labels, n_per_class=50, n_pool=500, n_eval=6000, seed=3)
    sizes = {k: len(v) for k, v in sp.items()}
    assert sizes == {"train": 500, "pool_a": 500, "pool_b": 500, "evaluator": 6000}
    all_idx = np.concatenate(list(sp.values()))
    assert len(np.unique(all_idx)) == len(all_idx)  # disjoint
    for k in ("train", "pool_a", "pool_b"):
        assert np.bincount(labels[sp[k]], minlength=10).tolist() == [50] * 10
    again = mnist_ds.paper_split(labels, seed=3)
    assert all(np.array_equal(sp[k], again[k]) for k in sp)  # seeded
    other = mnist_ds.paper_split(labels, seed=4)
    assert not np.array_equal(sp["train"], other["train"])
    js = mnist_ds.split_as_json(sp)
    assert js["train"] == sp["train"].tolist() and isinstance(js["train"][0], int)


def test_paper_split_errors_and_topup():
    labels = np.array([0] * 100 + [1] * 10)
    with pytest.raises(ValueError, match="class 1"):
        mnist_ds.paper_split(labels, n_per_class=20)
    sp = mnist_ds.paper_split(labels, n_per_class=5, n_pool=20, n_eval=None)
    assert len(sp["pool_a"]) == len(sp["pool_b"]) == 20  # class 1 runs short; topped up
    assert len(sp["evaluator"]) == 110 - 10 - 40
    with pytest.raises(ValueError, match="only"):
        mnist_ds.paper_split(labels, n_per_class=5, n_pool=60)


def write_celeba(root: Path, n: int = 5):
    from PIL import Image

    names = ["Male", "Smiling", "Young"]
    (root / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    attr_lines, part_lines, attrs = [str(n), " ".join(names)], [], {}
    for i in range(n):
        f = f"{i + 1:06d}.jpg"
        im = np.zeros((218, 178, 3), np.uint8)
        im[:20] = 255  # a white band above the 178x178 centre crop: it must be cropped away
        im[20:198, :, i % 3] = 200
        Image.fromarray(im).save(root / "img_align_celeba" / f, quality=95)
        a = rng.choice([-1, 1], size=len(names))
        attrs[f] = a
        attr_lines.append(f + "  " + " ".join(f"{v:2d}" for v in a))
        part_lines.append(f"{f} {0 if i < 3 else 1 if i == 3 else 2}")
    (root / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")
    return names, attrs


def test_load_celeba_fixture(tmp_path):
    names, attrs = write_celeba(tmp_path)
    d = celeba.load_celeba(tmp_path, split="train", size=16)
    assert d.images.shape == (3, 3, 16, 16) and d.images.dtype == torch.float32
    assert 0 <= d.images.min() and d.images.max() <= 1
    assert d.files == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert d.attr_names == names and d.labels.shape == (3, 3)
    expected = np.stack([(attrs[f] > 0).astype(np.int64) for f in d.files])
    np.testing.assert_array_equal(d.labels.numpy(), expected)
    # the crop removed the white band: the top row has the colour of the face region
    assert d.images[0, 0, 0].mean() > 0.6 and d.images[0, 1, 0].mean() < 0.1
    one = celeba.load_celeba(tmp_path, split="test", attr="Smiling", size=8)
    assert one.labels.shape == (1,) and one.labels[0] == int(attrs["000005.jpg"][1] > 0)
    assert len(celeba.load_celeba(tmp_path, split="all", size=8, limit=4).files) == 4


def test_load_celeba_errors(tmp_path):
    write_celeba(tmp_path)
    with pytest.raises(KeyError, match="Bald"):
        celeba.load_celeba(tmp_path, attr="Bald")
    with pytest.raises(ValueError, match="split"):
        celeba.load_celeba(tmp_path, split="validation")
    (tmp_path / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="000002.jpg"):
        celeba.load_celeba(tmp_path)
    (tmp_path / "list_eval_partition.txt").unlink()
    with pytest.raises(FileNotFoundError, match="list_eval_partition.txt"):
        celeba.load_celeba(tmp_path)
