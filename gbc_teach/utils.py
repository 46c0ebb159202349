"""Seeds, devices, paths and atomic writes shared by every module (STYLE.md items 6, 11)."""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch.Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(device: str | None = None) -> torch.device:
    """'cuda' if asked and available, else 'cpu'; a clear error when cuda is asked but missing."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} was asked for but torch sees no CUDA GPU "
                           f"(torch {torch.__version__}); see README 'GPU install'.")
    return torch.device(device)


def is_fast() -> bool:
    """True when notebooks and commands should run in fast (CI) mode: env GBC_FAST=1."""
    return os.environ.get("GBC_FAST", "0") == "1"


def cache_dir() -> Path:
    """Root for cached models: $GBC_CACHE_DIR, else ./outputs/cache."""
    return Path(os.environ.get("GBC_CACHE_DIR", "outputs/cache"))


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create `path` if needed and check we can write there; raise a clear error otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, delete=True)
        probe.close()
    except OSError as e:
        raise OSError(f"output directory {str(path)!r} cannot be written: {e.strerror or e}") from e
    return path


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a file."""
    _atomic_write(Path(path), lambda f: torch.save(obj, f))


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write bytes atomically (temp file + rename)."""
    _atomic_write(Path(path), lambda f: f.write(data))


def atomic_write_json(obj, path: str | os.PathLike) -> None:
    """Write JSON atomically, pretty-printed."""
    atomic_write_bytes((json.dumps(obj, indent=2, sort_keys=False) + "\n").encode(), path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by `atomic_torch_save` (tensors and plain containers only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
