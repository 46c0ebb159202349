"""Command-line settings, errors and caches: refused clearly, one line, the right exit status.

--set values parsed by type and range, --seed range, one-line errors without tracebacks
(--debug shows them), a corrupt evaluator cache as a cache miss, umask-respecting file modes;
under torchrun, one run folder, written by rank 0.
"""

import argparse
import dataclasses
import os
import pickle
import re
import stat

import numpy as np
import pytest
import torch

from gbc_teach import cli
from gbc_teach.cli import main
from gbc_teach.evaluation import evaluator
from gbc_teach.experiments import config, toy2d
from gbc_teach.experiments.base import Experiment
from gbc_teach.experiments.mnist_config import MnistConfig
from gbc_teach.utils import atomic_write_bytes, load_checkpoint


def one_line_error(err: str, cmd: str) -> str:
    """The single error line of stderr (no traceback), for `gbc-teach cmd`."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"gbc-teach {cmd}: error: "), err
    return lines[0]


# ---------------------------------------------------------------------------- 4. --set
def test_set_values_parsed_by_field_type():
    cfg = config.apply_overrides(MnistConfig.fast(), [
        "qmin_mode=tied", "gbc_bn_mode=train", "bn=False", "bias=true", "gen_steps=7",
        "gen_lr=1e-3", "surrogate_a=None", "out_bias=-3", "n_samples=none", "alpha_mode=learned"])
    assert cfg.qmin_mode == "tied" and cfg.gbc_bn_mode == "train" and cfg.alpha_mode == "learned"
    assert cfg.bn is False and cfg.bias is True and cfg.gen_steps == 7
    assert cfg.gen_lr == 1e-3 and cfg.surrogate_a is None and cfg.out_bias == -3.0
    assert cfg.n_samples is None and isinstance(cfg.gen_steps, int)
    free = config.apply_overrides(toy2d.ToyConfig(), ["qmin_mode=free"])
    assert free.qmin_mode == "free"


BAD_SET = [
    ("gen_steps=0", "gen_steps=0: gen_steps must be ≥ 1"),
    ("clf_steps=0", "clf_steps=0: clf_steps must be ≥ 1"),
    ("naive_steps=-5", "naive_steps=-5: naive_steps must be ≥ 1"),
    ("batch=0", "batch=0: batch must be ≥ 1"),
    ("batch=5", "batch must be ≥ the number of classes"),
    ("n_per_class=0", "n_per_class=0: n_per_class must be ≥ 1"),
    ("width=0", "width=0: width must be ≥ 1"),
    ("gen_lr=0", "gen_lr=0: gen_lr must be > 0"),
    ("gen_lr=nan", "gen_lr=nan: gen_lr must be a finite number"),
    ("gen_steps=1.5", "gen_steps=1.5: gen_steps must be a whole number"),
    ("bn=maybe", "bn=maybe: bn must be true or false"),
    ("qmin_mode=tide", "qmin_mode=tide: qmin_mode must be one of free, tied, mean, none"),
    ("device=gpu", "device=gpu: device must be cpu, cuda"),
    ("gen_steps", "--set gen_steps: expected KEY=VALUE"),
    ("gen_stepz=3", "unknown setting 'gen_stepz'; did you mean gen_steps?"),
]


@pytest.mark.parametrize("item,message", BAD_SET)
def test_bad_set_refused_naming_key_value_and_rule(tmp_path, capsys, item, message):
    out = tmp_path / "outputs" / "run"
    assert main(["mnist", "--fast", "--quiet", "--set", item, "--out", str(out)]) == 2
    assert message in one_line_error(capsys.readouterr().err, "mnist")
    assert not (tmp_path / "outputs").exists()  # refused before any folder was made


def test_faces_start_is_checked_before_any_run(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["faces", "--fast", "--quiet", "--set", "restart_start=zeros", "--out", str(out)]) == 2
    assert ("restart_start=zeros: restart_start must be one of random, noise"
            in one_line_error(capsys.readouterr().err, "faces"))
    assert not out.exists()


@pytest.mark.parametrize("cmd,items,message", [
    ("mnist", ["clf_rule=plain"], "scale_weight needs clf_rule=weight_decay"),
    ("faces", ["gen_restarts=1"], "restarts need scale_weight > 0"),
])
def test_settings_that_need_each_other_are_refused(tmp_path, capsys, cmd, items, message):
    out = tmp_path / "o"
    sets = [a for item in items for a in ("--set", item)]
    assert main([cmd, "--fast", "--quiet", *sets, "--out", str(out)]) == 2
    assert message in one_line_error(capsys.readouterr().err, cmd)
    assert not out.exists()


def test_toy2d_set_is_checked_the_same_way(tmp_path, capsys):
    assert main(["toy2d", "--set", "gen_steps=0", "--out", str(tmp_path / "o")]) == 2
    assert "gen_steps=0: gen_steps must be ≥ 1" in one_line_error(capsys.readouterr().err, "toy2d")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------- --profile
@pytest.mark.parametrize("cmd,says,never", [
    ("faces", ["default: 24 faces", "recovery: 4 faces", "(default: default)"], "10 images"),
    ("mnist", ["recovery: a weight-decay", "haim:", "(default: recovery)"], "faces"),
    ("recovery-map", ["recovery:", "haim:"], "paper-scale")])
def test_profile_help_describes_that_commands_profiles(capsys, cmd, says, never):
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert all(s in out for s in says) and never not in out, out


# ---------------------------------------------------------------------------- 9. --seed
@pytest.mark.parametrize("cmd", ["toy2d", "mnist", "mnist-multi"])
@pytest.mark.parametrize("seed", ["-1", "99999999999999999999", "x"])
def test_seed_range_refused_by_every_command(tmp_path, capsys, cmd, seed):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--seed", seed, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    assert f"gbc-teach {cmd}: error: argument --seed: must be a whole number from 0" in err
    assert repr(seed) in err and not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------- 8. tracebacks
def _raise(exc):
    def run(*a, **k):
        raise exc
    return run


@pytest.mark.parametrize("exc", [IndexError("index 12 is out of bounds"), TypeError("bad type"),
                                 ZeroDivisionError("division by zero"), EOFError("ran out"),
                                 pickle.UnpicklingError("bad pickle"), AttributeError("no attr"),
                                 ValueError("bad value"), OSError(28, "No space left")])
def test_any_failure_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys, exc):
    monkeypatch.setattr(toy2d, "run_toy2d", _raise(exc))
    out = tmp_path / "o"
    assert main(["toy2d", "--quiet", "--out", str(out)]) == 1
    line = one_line_error(capsys.readouterr().err, "toy2d")
    assert str(exc.args[-1]) in line
    assert not out.exists() and not list(tmp_path.iterdir())  # no folder, staging or lock left


def test_interrupt_exits_130_and_debug_shows_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(toy2d, "run_toy2d", _raise(KeyboardInterrupt()))
    assert main(["toy2d", "--quiet", "--out", str(tmp_path / "o")]) == 130
    assert "interrupted by Ctrl-C" in one_line_error(capsys.readouterr().err, "toy2d")
    monkeypatch.setattr(toy2d, "run_toy2d", _raise(IndexError("deep")))
    assert main(["toy2d", "--quiet", "--debug", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "IndexError: deep" in err
    monkeypatch.setenv("GBC_DEBUG", "1")
    assert main(["--debug", "toy2d", "--quiet", "--out", str(tmp_path / "o")]) == 1
    assert "Traceback" in capsys.readouterr().err


# ---------------------------------------------------------------------------- 7. the cache
def _corrupt(path, kind):
    good = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "object":  # weights_only refuses it; torch's advice must not reach the user
        torch.save(argparse.Namespace(key="x"), path)
    elif kind == "wrong-state":
        ck = load_checkpoint(path)
        ck["state_dict"] = {"w": torch.zeros(2)}
        torch.save(ck, path)


@pytest.mark.parametrize("kind", ["truncated", "random", "empty", "list", "object", "wrong-state"])
def test_corrupt_cache_is_a_miss_retrained_and_replaced(tmp_path, kind):
    x = torch.rand(40, 1, 28, 28)
    y = torch.arange(40) % 10
    path = tmp_path / "cache" / "evaluator.pt"
    kw = dict(epochs=1, progress=False, batch_size=40)
    evaluator.load_or_train_evaluator(x, y, path, **kw)
    _corrupt(path, kind)
    with pytest.warns(UserWarning) as rec:
        model = evaluator.load_or_train_evaluator(x, y, path, **kw)
    msg = " ".join(str(w.message) for w in rec)
    assert f"evaluator cache {path} does not load" in msg and "weights_only" not in msg
    assert isinstance(model, evaluator.EvaluatorCNN)
    ck = load_checkpoint(path)  # replaced by a good one
    assert ck["key"] == evaluator.evaluator_key(x, y, evaluator.evaluator_hparams(**{
        k: v for k, v in kw.items() if k != "progress"}))
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------- 9. file modes
def test_atomic_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(b"x", tmp_path / "a.bin")
        (tmp_path / "b.bin").write_bytes(b"x")
        os.umask(0o077)
        atomic_write_bytes(b"x", tmp_path / "c.bin")
    finally:
        os.umask(old)
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert mode == {"a.bin": 0o644, "b.bin": 0o644, "c.bin": 0o600}


def test_data_download_refuses_a_busy_or_wrong_dest(tmp_path, capsys):
    from gbc_teach.experiments.runfolder import folder_lock

    dest = tmp_path / "mnist"
    with folder_lock(dest):  # another download holds the folder
        assert main(["data", "download", "mnist", "--dest", str(dest)]) == 1
    line = one_line_error(capsys.readouterr().err, "data")
    assert re.search(r"download folder .*mnist.* is in use by another live run \(pid \d+", line)
    dest.write_text("a file")
    assert main(["data", "download", "mnist", "--dest", str(dest)]) == 1
    assert "exists and is not a folder" in one_line_error(capsys.readouterr().err, "data")


# ---------------------------------------------------------------------------- torchrun
def test_only_rank_0_writes_the_run_folder(tmp_path, monkeypatch, capsys):
    # the command line under a launcher: every rank runs the experiment, rank 0 alone writes
    @dataclasses.dataclass
    class Cfg:
        n: int = 1

    runs = []

    def run(seed, cfg, **kw):
        runs.append(kw)
        return {"metrics": {}}

    def write(res, folder):
        (folder / "metrics.json").write_text("{}")
        return ["metrics.json"]

    exp = Experiment(name="stub", help="", config=lambda profile, fast: Cfg(), data=None,
                     classifier=None, run=run, write=write, report=lambda res: "report")
    for rank in (1, 0):
        monkeypatch.setenv("RANK", str(rank))  # WORLD_SIZE unset: no process group is formed
        args = argparse.Namespace(fast=True, set=None, seed=0, quiet=False,
                                  out=str(tmp_path / "run"), command_line=["gbc-teach", "stub"])
        assert cli.run_experiment(exp, args) == 0
        assert (tmp_path / "run" / "run.json").exists() == (rank == 0)
        assert ("report" in capsys.readouterr().out) == (rank == 0)
    assert [kw["progress"] for kw in runs] == [False, True]  # rank 1 shows no progress bars
