"""The `gbc-teach` command line: the experiments of the course, one subcommand each.

Exit status: 0 done; 1 the run failed (bad data, a busy or foreign output folder, ...); 2 a bad
command line; 130 interrupted (Ctrl-C), 128 + N on signal N (143 for SIGTERM). Failures are
one line on stderr; `--debug` or GBC_DEBUG=1 adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
import warnings
from dataclasses import asdict
from pathlib import Path

from .config_parse import UsageError, add_run_arguments, apply_overrides
from .runfolder import folder_lock, run_folder, signal_received, signals_as_exceptions
from .utils import atomic_savefig, atomic_write_json


def _toy2d(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .plots import plot_toy_panel
    from .toy import ToyConfig, run_toy2d

    cfg = apply_overrides(ToyConfig.fast() if args.fast else ToyConfig(), args.set)
    with run_folder(args.out, args.command_line, asdict(cfg)) as stage:
        res = run_toy2d(args.seed, cfg, progress=not args.quiet)
        m = res["metrics"]
        m["fast"] = bool(args.fast)
        fig = plot_toy_panel(res["model"], res["data"].X, res["data"].y, res["kkt"].support,
                             res["samples"], res["naive_samples"], box=cfg.box,
                             metrics={k: {"recall": m[k]["sv_recall"], "precision": m[k]["precision"]}
                                      for k in ("gbc", "naive")})
        atomic_savefig(fig, stage / "figure.png")
        atomic_write_json(m, stage / "metrics.json")
    print(json.dumps({k: m[k] for k in ("classifier", "gbc", "naive", "seconds")}, indent=2))
    print(f"wrote {args.out}/: figure.png, metrics.json, run.json")
    return 0


def _data_download(args) -> int:
    from .data import default_data_dir, mnist_download

    dest = Path(args.dest) if args.dest else default_data_dir() / "mnist"
    with folder_lock(dest, "download folder"):  # two downloads into one folder: one waits out
        path = mnist_download(dest)
    print(f"MNIST verified in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    # --debug after the subcommand too; SUPPRESS keeps a sub-parser from resetting the top one
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of a failure (also: GBC_DEBUG=1)")
    p = argparse.ArgumentParser(prog="gbc-teach", description=__doc__, parents=[debug],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("toy2d", parents=[debug],
                       help="2-D toy: classifier, GBC generator, naive baseline")
    add_run_arguments(t, "outputs/toy2d", "ToyConfig")
    t.add_argument("--fast", action="store_true", help="the CI profile: fewer steps")
    t.set_defaults(fn=_toy2d)

    d = sub.add_parser("data", parents=[debug], help="data sets: download and verify")
    dsub = d.add_subparsers(dest="action", required=True)
    dl = dsub.add_parser("download", parents=[debug], help="download a data set with checksums")
    dl.add_argument("dataset", choices=["mnist"])
    dl.add_argument("--dest", default=None, help="folder (default: $GBC_DATA_DIR/mnist or data/mnist)")
    dl.set_defaults(fn=_data_download)

    try:  # the MNIST commands live with the MNIST experiment
        from .mnist import add_mnist_commands
    except ImportError:
        pass
    else:
        add_mnist_commands(sub, parents=[debug])
        from .recovery import add_recovery_command

        add_recovery_command(sub, parents=[debug])
    return p


def _warning_line(name: str):
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{name}: warning: {message}", file=sys.stderr)
    return show


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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
        if getattr(args, "quiet", False) is False:
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
