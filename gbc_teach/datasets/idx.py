"""IDX files (MNIST's format), raw or gzipped, read with bounded memory and checked for MNIST.

The header is read from the (possibly compressed) stream first, checked, and then exactly the
data it declares is inflated: a small file that would inflate to gigabytes is refused after a
few bytes, never inflated whole.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

# IDX type byte -> numpy dtype (the format is big-endian).
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAX_RATIO = 1100  # deflate expands by at most about 1032:1; more declared is a lie
CHUNK = 1 << 22


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return path.suffix == ".gz" or f.read(2) == b"\x1f\x8b"


def _read(f, n: int) -> bytes:
    """Up to n bytes (fewer only at the end of the stream)."""
    parts, got = [], 0
    while got < n:
        b = f.read(min(n - got, CHUNK))
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _read_into(f, buf: np.ndarray) -> int:
    mv, got = memoryview(buf), 0
    while got < len(buf):
        n = f.readinto(mv[got:got + CHUNK])
        if not n:
            break
        got += n
    return got


def read_idx(path: str | os.PathLike, check_header=None) -> np.ndarray:
    """Read an IDX file (raw or .gz) into a native-endian numpy array.

    check_header(shape, dtype), if given, runs on the header before any data is read or
    inflated (raise ValueError there to refuse the file early).
    """
    path = Path(path)
    size = path.stat().st_size
    gz = _is_gzip(path)
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            head = _read(f, 4)
            # magic: two zero bytes, a type byte, the number of dimensions
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_DTYPES:
                raise ValueError(f"{path}: not an IDX file "
                                 f"(bad magic number {head.hex() or 'empty'})")
            ndim = head[3]
            dims = _read(f, 4 * ndim)
            header = 4 + 4 * ndim
            if len(dims) < 4 * ndim:
                raise ValueError(f"{path}: truncated IDX header")
            shape = struct.unpack(f">{ndim}I", dims)
            dtype = np.dtype(IDX_DTYPES[head[2]])
            if check_header is not None:
                check_header(shape, dtype)
            count = int(np.prod(shape, dtype=np.int64))
            nbytes = count * dtype.itemsize
            expected = header + nbytes
            if not gz and size != expected:
                what = "truncated" if size < expected else "has trailing bytes"
                raise ValueError(f"{path}: IDX file {what}: {size} bytes, header says {expected}")
            if gz and nbytes > GZIP_MAX_RATIO * size:
                raise ValueError(f"{path}: IDX file truncated: its header declares {expected} "
                                 f"bytes, more than a {size}-byte gzip file can hold")
            buf = np.empty(nbytes, np.uint8)
            got = _read_into(f, buf)
            if got < nbytes:
                raise ValueError(f"{path}: IDX file truncated: {header + got} bytes, "
                                 f"header says {expected}")
            if gz and f.read(1):  # inflates one more chunk at most; also checks the CRC
                raise ValueError(f"{path}: IDX file has trailing bytes after the {expected} "
                                 "its header declares")
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # a cut-off or damaged stream
        raise ValueError(f"{path}: corrupt or truncated gzip file ({e})") from e
    return buf.view(dtype).reshape(shape).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------------------- MNIST checks
def _dtype_name(dtype: np.dtype) -> str:
    return dtype.newbyteorder("=").name


def mnist_images_header(path: Path):
    """check_header for an MNIST images file: (N, 28, 28) unsigned bytes, N ≥ 1."""
    def check(shape, dtype):
        if dtype != np.uint8:
            raise ValueError(f"images file {path} holds {_dtype_name(dtype)} values; MNIST "
                             "images are unsigned bytes (IDX type 0x08)")
        if len(shape) != 3:
            raise ValueError(f"images file {path} holds an array of shape {tuple(shape)}; MNIST "
                             "images are (N, 28, 28)")
        if tuple(shape[1:]) != (28, 28):
            raise ValueError(f"images file {path} holds {shape[1]}×{shape[2]} images; MNIST "
                             "images are 28×28")
        if shape[0] == 0:
            raise ValueError(f"images file {path} holds no images")
    return check


def mnist_labels_header(path: Path):
    """check_header for an MNIST labels file: (N,) whole numbers."""
    def check(shape, dtype):
        if dtype.kind not in "iu":
            raise ValueError(f"labels file {path} holds {_dtype_name(dtype)} values; MNIST "
                             "labels are whole numbers 0–9 (IDX type 0x08)")
        if len(shape) != 1:
            raise ValueError(f"labels file {path} holds an array of shape {tuple(shape)}; MNIST "
                             "labels are (N,)")
    return check


def check_mnist_labels(labels: np.ndarray, path: Path) -> None:
    """ValueError naming `path` unless every label is a digit 0–9."""
    if len(labels) and labels.min() < 0:
        raise ValueError(f"labels file {path} holds negative values (down to {labels.min()}); "
                         "MNIST labels are 0–9")
    if len(labels) and labels.max() > 9:
        raise ValueError(f"labels file {path} holds values up to {labels.max()}; MNIST labels "
                         "are 0–9")


def read_mnist_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split, every rule checked."""
    images = read_idx(images_path, mnist_images_header(images_path))
    labels = read_idx(labels_path, mnist_labels_header(labels_path))
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} "
                         f"has {len(labels)} labels")
    check_mnist_labels(labels, labels_path)
    return images, labels.astype(np.int64)


def gunzip_md5(data: bytes, limit: int) -> str:
    """MD5 of a gzip stream's content, inflated a chunk at a time and never past `limit` bytes
    (a bad download cannot inflate into gigabytes of memory); zlib.error if not gzip."""
    d, h, total, buf = zlib.decompressobj(16 + zlib.MAX_WBITS), hashlib.md5(), 0, data
    while buf and total <= limit:
        chunk = d.decompress(buf, 1 << 20)
        h.update(chunk)
        total += len(chunk)
        buf = d.unconsumed_tail
    if total <= limit:
        h.update(d.flush())
    return h.hexdigest()
