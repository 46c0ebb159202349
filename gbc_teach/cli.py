"""The `gbc-teach` command line: the experiments of the course, one subcommand each.

Under torchrun (README, "Several GPUs") every process computes its share of each generator
batch and rank 0 alone prints and writes the run folder.

Exit status: 0 done; 1 the run failed (bad data, a busy or foreign output folder, ...); 2 a bad
command line; 130 interrupted (Ctrl-C), 128 + N on signal N (143 for SIGTERM). Failures are
one line on stderr; `--debug` or GBC_DEBUG=1 adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
import warnings
from dataclasses import asdict
from pathlib import Path

import matplotlib

from . import parallel
from .datasets.mnist import default_data_dir, find_mnist_dir, mnist_download
from .experiments import compare, faces, mnist, mnist_multi, recovery, toy2d
from .experiments.base import Experiment
from .experiments.config import UsageError, add_run_arguments, apply_overrides
from .experiments.runfolder import folder_lock, run_folder, signal_received, signals_as_exceptions
from .utils import get_device

EXPERIMENTS = (toy2d.EXPERIMENT, mnist.EXPERIMENT, mnist_multi.EXPERIMENT, recovery.EXPERIMENT,
               faces.EXPERIMENT)


def run_experiment(exp: Experiment, args) -> int:
    """config (profile, --device, --set) → run → the run folder's files → the terminal."""
    profile = "paper-scale" if getattr(args, "paper", False) else getattr(args, "profile", "default")
    cfg = exp.config(profile, args.fast)
    device = getattr(args, "device", None)
    cfg = apply_overrides(cfg, ([f"device={device}"] if device else []) + (args.set or []))
    # given data is used or refused, up front
    data_dir = find_mnist_dir(args.data, "--data") if exp.reads_mnist else None
    options = {k: getattr(args, k) for k in exp.options}
    if parallel.launched():  # under torchrun: one process group, NCCL on GPUs, gloo on the CPU
        parallel.init_from_env(cuda=get_device(getattr(cfg, "device", "cpu")).type == "cuda")
    try:
        if not parallel.is_main():  # the other ranks: their share of the work, no files, no text
            exp.run(args.seed, cfg, progress=False, data_dir=data_dir, **options)
            return 0
        return _run_and_write(exp, args, cfg, profile, data_dir, options)
    finally:
        parallel.shutdown()


def _run_and_write(exp: Experiment, args, cfg, profile: str, data_dir, options: dict) -> int:
    with run_folder(args.out, args.command_line, {**asdict(cfg), **options}) as stage:
        res = exp.run(args.seed, cfg, progress=not args.quiet, data_dir=data_dir, **options)
        if "metrics" in res:
            res["metrics"].update(fast=bool(args.fast), profile=profile)
        written = exp.write(res, stage)
    print(exp.report(res))
    print(f"wrote {args.out}/: " + ", ".join([*written, "run.json"]))
    return 0


def _data_download(args) -> int:
    dest = Path(args.dest) if args.dest else default_data_dir() / "mnist"
    with folder_lock(dest, "download folder"):  # two downloads into one folder: one waits out
        path = mnist_download(dest)
    print(f"MNIST verified in {path}")
    return 0


def _add_experiment(sub, exp: Experiment, parents: list) -> None:
    p = sub.add_parser(exp.name, help=exp.help, parents=parents)
    cfg = exp.config(exp.profiles[0], False)
    add_run_arguments(p, f"outputs/{exp.name}", type(cfg).__name__)
    p.add_argument("--fast", action="store_true", help="the CI profile: same pipeline, tiny sizes")
    if len(exp.profiles) > 1:
        p.add_argument("--profile", choices=exp.profiles, default=exp.profiles[0],
                       help=exp.profiles_text())
    if "paper-scale" in exp.profiles:
        p.add_argument("--paper", action="store_true", help="short for --profile paper-scale "
                       "(a GPU profile: implies --device cuda unless given)")
    if hasattr(cfg, "device"):
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
    if exp.reads_mnist:
        p.add_argument("--data", default=None, help="folder with MNIST IDX files, used or "
                       "refused (default: $GBC_DATA_DIR, ./data; with none configured, the "
                       "flagged sklearn fallback)")
    for name, opt in exp.options.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, default=opt.default, help=opt.help)
    p.set_defaults(fn=lambda a, exp=exp: run_experiment(exp, a))


def build_parser() -> argparse.ArgumentParser:
    # --debug after the subcommand too; SUPPRESS keeps a sub-parser from resetting the top one
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of a failure (also: GBC_DEBUG=1)")
    p = argparse.ArgumentParser(prog="gbc-teach", description=__doc__, parents=[debug],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for exp in EXPERIMENTS:
        _add_experiment(sub, exp, [debug])

    c = sub.add_parser("compare", parents=[debug], help="every generation method on the same "
                       "classifiers over seeds: one table (cached runs)")
    compare.add_arguments(c)
    c.set_defaults(fn=compare.main)

    d = sub.add_parser("data", parents=[debug], help="data sets: download and verify")
    dsub = d.add_subparsers(dest="action", required=True)
    dl = dsub.add_parser("download", parents=[debug], help="download a data set with checksums")
    dl.add_argument("dataset", choices=["mnist"])
    dl.add_argument("--dest", default=None, help="folder (default: $GBC_DATA_DIR/mnist or data/mnist)")
    dl.set_defaults(fn=_data_download)
    return p


def _warning_line(name: str):
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{name}: warning: {message}", file=sys.stderr)
    return show


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    matplotlib.use("Agg")  # figures go to files
    args = build_parser().parse_args(argv)
    args.command_line = ["gbc-teach", *argv]
    name = f"gbc-teach {args.cmd}"
    debug = getattr(args, "debug", False) or os.environ.get("GBC_DEBUG", "0") not in ("", "0")
    t0 = time.perf_counter()
    try:
        with signals_as_exceptions(), warnings.catch_warnings():
            warnings.showwarning = _warning_line(name)
            return args.fn(args)
    except KeyboardInterrupt as e:
        return _stopped(name, getattr(e, "signum", signal.SIGINT), debug)
    except UsageError as e:
        _fail(name, str(e), debug)
        return 2
    except Exception as e:  # noqa: BLE001 - every failure is one line unless --debug
        if signal_received() is not None:  # a signal that hit an import comes back as another error
            return _stopped(name, signal_received(), debug)
        expected = isinstance(e, (OSError, ValueError, RuntimeError, MemoryError))
        _fail(name, (str(e) or type(e).__name__) if expected else
              f"{type(e).__name__}: {e} (unexpected; --debug shows the traceback)", debug)
        return 1
    finally:
        if getattr(args, "quiet", False) is False and parallel.is_main():
            print(f"[{time.perf_counter() - t0:.1f} s]", file=sys.stderr)


def _stopped(name: str, signum: int, debug: bool) -> int:
    what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    _fail(name, f"interrupted by {what} (nothing half-written was kept)", debug)
    return 128 + signum


def _fail(name: str, message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"{name}: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
