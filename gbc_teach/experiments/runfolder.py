"""A run's output folder as one unit: staged, locked, with a manifest, swapped in whole.

`run_folder(out)` is what every command that writes a folder uses:

* a lock (`.OUT.lock` beside OUT, fcntl.flock) refuses a second live run into the same folder;
* the run writes into `OUT.partial-<pid>` beside OUT, never into OUT itself;
* on success `run.json` (status, command, config, versions, size and sha256 of every file) is
  written last, then the staging folder replaces OUT in two renames: a rerun replaces the whole
  folder, so no file of an earlier run survives beside the new ones;
* on any failure, Ctrl-C or SIGTERM the staging folder is removed and OUT is left as it was.

A process killed with SIGKILL cannot clean up: its `OUT.partial-<pid>` (with a run.json saying
"running") stays until the next run into OUT, which sweeps it.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy
import torch

from .. import __version__
from ..utils import atomic_write_json

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the staging and swap still hold
    fcntl = None

MANIFEST = "run.json"
# what gbc-teach commands write: a folder holding only these (and no run.json) is an earlier run
KNOWN_FILES = {"metrics.json", "figure.png", "samples.png", "samples_naive.png",
               "samples_bnstat.png", "nearest.png", "samples.npz", "train_subset.npz", MANIFEST}


class FolderBusy(RuntimeError):
    """Another live run holds the folder's lock."""


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP, raised like Ctrl-C so that every cleanup (finally, except) runs.

    A subclass rather than KeyboardInterrupt itself: CPython kills itself with SIGINT at exit
    when a bare KeyboardInterrupt once escaped exec'd code (scipy runs some), whatever we return.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_RECEIVED: list[int] = []  # signals seen inside `signals_as_exceptions`


def _raise_interrupted(signum, frame):
    _RECEIVED.append(signum)
    raise Interrupted(signum)


def signal_received() -> int | None:
    """The first signal seen in the current `signals_as_exceptions` block, if any.

    A signal that lands inside an import or C code can come back as another exception (e.g.
    ImportError "initialization failed"); this tells the caller it was an interruption.
    """
    return _RECEIVED[0] if _RECEIVED else None


@contextlib.contextmanager
def signals_as_exceptions():
    """SIGINT, SIGTERM and SIGHUP raise `Interrupted` inside the block.

    Main thread only (elsewhere a no-op); a SIGINT that is ignored (nohup) stays ignored.
    """
    _RECEIVED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {getattr(signal, n): _raise_interrupted for n in ("SIGTERM", "SIGHUP")
                if hasattr(signal, n)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        handlers[signal.SIGINT] = _raise_interrupted
    old = {s: signal.signal(s, h) for s, h in handlers.items()}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends: renames and cleanup finish whole."""
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} if hasattr(signal, "SIGHUP") else set()
    if not sigs or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ---------------------------------------------------------------------------- the lock
@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "output folder"):
    """Hold an exclusive lock on `folder` (file `.NAME.lock` beside it); FolderBusy if held."""
    folder = Path(os.path.abspath(folder))
    if folder.parent == folder:
        raise ValueError(f"{what} cannot be the root folder {str(folder)!r}")
    lock = folder.parent / f".{folder.name}.lock"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise OSError(f"{what} {str(folder)!r} cannot be written: {e.strerror or e}") from e
    if fcntl is None:
        os.close(fd)
        yield lock
        return
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderBusy(f"{what} {str(folder)!r} is in use by another live run "
                             f"({holder}); wait for it to finish or choose another folder") from None
        try:  # the holder unlinks the lock file on release: make sure ours is still the file
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}".encode())
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # while still locked: a waiter re-checks the path, as above
        os.close(fd)


# ---------------------------------------------------------------------------- the run folder
def versions() -> dict:
    """Versions of what produced a run."""
    return {"gbc_teach": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__,
            "platform": platform.platform()}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_table(folder: Path) -> dict:
    """{relative path: {'bytes', 'sha256'}} of every file under `folder` except run.json."""
    return {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def _check_replaceable(out: Path) -> None:
    """Refuse to replace anything that is not absent, empty, or an earlier gbc-teach run."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise FileExistsError(f"output folder {str(out)!r} exists and is not a folder")
    ours = set(KNOWN_FILES)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        ours |= set(json.loads((out / MANIFEST).read_text()).get("files", {}))
    foreign = sorted(p.name for p in out.iterdir()
                     if not (p.name in ours and p.is_file())
                     and not (p.name.startswith(".") and p.name.endswith(".tmp")))
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise FileExistsError(
            f"output folder {str(out)!r} holds {', '.join(foreign[:3])}{more}, which no earlier "
            "gbc-teach run wrote; a run replaces its output folder as a whole, so choose a new "
            "or empty folder (or move those files)")


def _sweep_debris(out: Path) -> None:
    """Remove staging and swapped-out folders of earlier runs into `out` (we hold its lock)."""
    for p in out.parent.glob(f"{out.name}.partial-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in out.parent.glob(f"{out.name}.old-*"):
        shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def run_folder(out: str | os.PathLike, command: list[str] | None = None,
               config: dict | None = None):
    """Yield a staging folder to write a run into; on success it becomes `out`, whole.

    Refuses (FolderBusy) while another run holds `out`, and (FileExistsError) an `out` holding
    files no gbc-teach run wrote. The manifest `out/run.json` is written last.
    """
    out_arg = str(out)
    out = Path(os.path.abspath(out))
    created = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
    try:
        with folder_lock(out):
            _check_replaceable(out)
            _sweep_debris(out)
            stage = out.parent / f"{out.name}.partial-{os.getpid()}"
            stage.mkdir()
            t0, started = time.perf_counter(), _now()
            manifest = {"status": "running", "command": " ".join(command or sys.argv),
                        "argv": list(command or sys.argv), "cwd": os.getcwd(), "out": out_arg,
                        "pid": os.getpid(), "started": started, "config": config or {},
                        "versions": versions()}
            try:
                atomic_write_json(manifest, stage / MANIFEST)  # says "incomplete" if we die
                yield stage
                manifest.update(status="complete", finished=_now(),
                                seconds=round(time.perf_counter() - t0, 3),
                                files=file_table(stage))
                atomic_write_json(manifest, stage / MANIFEST)
                with signals_deferred():
                    _swap(stage, out)
            except BaseException:
                with signals_deferred():
                    shutil.rmtree(stage, ignore_errors=True)
                raise
    except BaseException:
        for p in created:  # folders made only for this run go too (deepest first)
            with contextlib.suppress(OSError):
                p.rmdir()
        raise


def _swap(stage: Path, out: Path) -> None:
    old = out.parent / f"{out.name}.old-{os.getpid()}"
    if out.exists():
        os.rename(out, old)
    os.rename(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds")
