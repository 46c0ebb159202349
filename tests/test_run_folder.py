"""A run's output folder is one unit: replaced whole, never half-written, locked while live.

The kill tests send real signals to a real `gbc-teach toy2d` subprocess.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gbc_teach.cli import main
from gbc_teach.experiments import toy2d
from gbc_teach.utils import sweep_stale_tmp

REPO = Path(__file__).resolve().parents[1]
TINY = ["--fast", "--quiet", "--set", "clf_steps=60", "--set", "gen_steps=10",
        "--set", "naive_steps=5", "--set", "n_eval_samples=30"]


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def earlier_run(out: Path, files=("metrics.json", "figure.png", "samples_bnstat.png")) -> dict:
    """A complete folder of an earlier run (its run.json lists its files)."""
    out.mkdir(parents=True)
    for f in files:
        (out / f).write_bytes(f"old {f}".encode())
    (out / "run.json").write_text(json.dumps({"status": "complete", "files": {f: {} for f in files}}))
    return snapshot(out)


def leftovers(root: Path) -> list[str]:
    """Staging folders, swapped-out folders, locks and temp files anywhere under root."""
    return [str(p) for p in root.rglob("*")
            if ".partial-" in p.name or ".old-" in p.name or p.name.endswith((".lock", ".tmp"))]


# ---------------------------------------------------------------------------- 5. the folder
def test_rerun_replaces_the_folder_whole_with_a_manifest(tmp_path, capsys):
    out = tmp_path / "run"
    earlier_run(out)
    old = os.umask(0o022)
    try:
        assert main(["toy2d", *TINY, "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert sorted(p.name for p in out.iterdir()) == ["figure.png", "metrics.json", "run.json"]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["command"].startswith("gbc-teach toy2d --fast")
    assert run["config"]["gen_steps"] == 10 and run["versions"]["torch"]
    assert set(run["files"]) == {"figure.png", "metrics.json"}
    for name, f in run["files"].items():
        assert f["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert json.loads((out / "metrics.json").read_text())["fast"] is True
    assert all(oct(p.stat().st_mode)[-3:] == "644" for p in out.iterdir())
    assert leftovers(tmp_path) == []


def test_folder_with_foreign_files_is_refused_untouched(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "metrics.json").write_text("{}")
    assert main(["toy2d", *TINY, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "notes.txt" in err and str(out) in err
    assert snapshot(out) == {"notes.txt": b"my notes", "metrics.json": b"{}"}
    assert leftovers(tmp_path) == []


def test_interrupt_between_artifacts_leaves_the_old_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    before = earlier_run(out)

    def interrupted(obj, path):  # Ctrl-C right after figure.png was written
        assert (Path(path).parent / "figure.png").is_file()
        raise KeyboardInterrupt

    monkeypatch.setattr(toy2d, "atomic_write_json", interrupted)
    assert main(["toy2d", *TINY, "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert snapshot(out) == before and leftovers(tmp_path) == []


# ---------------------------------------------------------------------------- 5, 6. real kills
def start(tmp_path: Path, out: Path) -> subprocess.Popen:
    """A long toy2d run (default profile) into `out`, started once its staging folder exists."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, "-m", "gbc_teach.cli", "toy2d", "--quiet",
                             "--out", str(out)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a background shell may ignore SIGINT; the child must not inherit it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.time()
    while not list(out.parent.glob(f"{out.name}.partial-*")):
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < 90, "the run never started"
        time.sleep(0.05)
    time.sleep(0.3)
    return proc


def stop(proc: subprocess.Popen, sig) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_kill_leaves_old_folder_and_no_debris(tmp_path, capsys, sig, code):
    out = tmp_path / "run"
    before = earlier_run(out)
    proc = start(tmp_path, out)
    if sig == signal.SIGTERM:  # meanwhile a second run into the same folder is refused
        assert main(["toy2d", *TINY, "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert f"is in use by another live run (pid {proc.pid}" in err and str(out) in err
    rc, err = stop(proc, sig)
    assert rc == code, err
    assert "Traceback" not in err and "gbc-teach toy2d: error: " in err
    assert snapshot(out) == before and leftovers(tmp_path) == []


def test_sigkill_debris_is_swept_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    proc = start(tmp_path, out)
    stop(proc, signal.SIGKILL)
    (partial,) = out.parent.glob("run.partial-*")  # cannot be cleaned by the killed process
    assert json.loads((partial / "run.json").read_text())["status"] == "running"
    assert not out.exists()
    assert main(["toy2d", *TINY, "--out", str(out)]) == 0
    assert leftovers(tmp_path) == [] and (out / "figure.png").is_file()


def test_sweep_removes_only_dead_processes_temp_files(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".metrics.json.pid{dead.pid}.abc123.tmp"
    live = tmp_path / f".metrics.json.pid{os.getpid()}.def456.tmp"
    for p in (stale, live):
        p.write_text("half")
    assert sweep_stale_tmp(tmp_path) == [stale]
    assert live.exists() and not stale.exists()


def test_a_signal_that_surfaces_as_another_error_is_still_an_interruption(tmp_path, monkeypatch,
                                                                          capsys):

    def run(*a, **k):  # SIGTERM inside a C extension's import comes back as ImportError
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except BaseException:
            raise ImportError("initialization failed") from None

    monkeypatch.setattr(toy2d, "run_toy2d", run)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["toy2d", "--quiet", "--out", str(tmp_path / "o")]) == 143
    assert "interrupted by SIGTERM" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before and list(tmp_path.iterdir()) == []


def test_ctrl_c_inside_exec_code_still_exits_130(tmp_path):
    # a bare KeyboardInterrupt escaping exec'd code makes `python -m` die by SIGINT at exit (-2)
    (tmp_path / "probe_exec.py").write_text(
        "import sys\nfrom gbc_teach.experiments import toy2d\nfrom gbc_teach.cli import main\n"
        "def run(*a, **k):\n"
        "    exec('import os, signal, time\\nos.kill(os.getpid(), signal.SIGINT)\\n"
        "time.sleep(5)')\n"
        "toy2d.run_toy2d = run\nsys.exit(main(['toy2d', '--quiet', '--out', sys.argv[1]]))\n")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{tmp_path}", "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-m", "probe_exec", str(tmp_path / "o")], env=env,
                       text=True, capture_output=True, timeout=120,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert r.returncode == 130, r.stderr
    assert "interrupted by Ctrl-C" in r.stderr and "Traceback" not in r.stderr


def test_toy2d_records_the_kept_generator_step(tmp_path):
    """The random start reports its last step; the convex start the step it kept (≤ the last)."""
    kept = {}
    for start in ("random", "convex"):
        out = tmp_path / start
        # the fast classifier (not TINY's 60 steps): the scan needs a margin band in every class
        assert main(["toy2d", "--fast", "--quiet", "--set", "gen_steps=10", "--set",
                     "naive_steps=5", "--set", "n_eval_samples=30", "--set", f"start={start}",
                     "--out", str(out)]) == 0
        g = json.loads((out / "metrics.json").read_text())["gbc"]
        assert g["start"] == start
        kept[start] = g["kept_step"]
    assert kept["random"] == 10 and 0 <= kept["convex"] <= 10
