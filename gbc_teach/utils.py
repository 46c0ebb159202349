"""Seeds, devices, paths and atomic writes shared by every module (docs/style.md item 11)."""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import threading
import time
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
    """'cuda' if asked and available, else 'cpu'; a clear error when cuda is asked but missing.

    Under torchrun (LOCAL_RANK set) a bare 'cuda' is this process's own GPU, cuda:LOCAL_RANK."""
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} was asked for but torch sees no CUDA GPU "
                           f"(torch {torch.__version__}); see README 'GPU install'.")
    if str(device) == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
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


def _file_mode() -> int:
    """0o666 less the umask: what open() would give (mkstemp alone gives 0o600)."""
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


_UMASK_LOCK = threading.Lock()


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the pid in the name lets `sweep_stale_tmp` tell a dead run's debris from a live write
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.pid{os.getpid()}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), _file_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TMP_RE = re.compile(r"^\..+\.pid(\d+)\.[^.]+\.tmp$")
_OLD_TMP_AGE = 24 * 3600  # temp files without a pid (older versions): swept after a day


def sweep_stale_tmp(folder: str | os.PathLike) -> list[Path]:
    """Remove the temp files of atomic writes whose process is gone (a kill -9, a power cut)."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    now = time.time()
    for p in entries:
        if not (p.name.startswith(".") and p.name.endswith(".tmp")) or not p.is_file():
            continue
        m = _TMP_RE.match(p.name)
        try:
            stale = (not pid_alive(int(m.group(1))) if m
                     else now - p.stat().st_mtime > _OLD_TMP_AGE)
            if stale:
                p.unlink()
                removed.append(p)
        except OSError:  # raced with its owner or another sweeper: nothing to do
            pass
    return removed


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a file."""
    _atomic_write(Path(path), lambda f: torch.save(obj, f))


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write bytes atomically (temp file + rename)."""
    _atomic_write(Path(path), lambda f: f.write(data))


def atomic_save_npz(path: str | os.PathLike, **arrays) -> None:
    """np.savez_compressed, atomically (the archive is built in memory, then written by rename)."""
    _atomic_write(Path(path), lambda f: np.savez_compressed(f, **arrays))


def as_uint8(x: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] as uint8 0..255 (clamped, rounded), any shape, on the CPU."""
    return (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def atomic_write_json(obj, path: str | os.PathLike) -> None:
    """Write JSON atomically, pretty-printed."""
    atomic_write_bytes((json.dumps(obj, indent=2, sort_keys=False) + "\n").encode(), path)


def atomic_savefig(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG atomically (a kill never leaves a 0-byte image), close it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(buf.getvalue(), path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by `atomic_torch_save` (tensors and plain containers only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
