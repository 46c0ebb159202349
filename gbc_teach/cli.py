"""The `gbc-teach` command line: the experiments of the course, one subcommand each."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .utils import atomic_write_json, ensure_writable_dir


def _toy2d(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .plots import plot_toy_panel
    from .toy import ToyConfig, run_toy2d

    out = ensure_writable_dir(args.out)
    cfg = ToyConfig.fast() if args.fast else ToyConfig()
    res = run_toy2d(args.seed, cfg, progress=not args.quiet)
    m = res["metrics"]
    m["fast"] = bool(args.fast)
    fig = plot_toy_panel(res["model"], res["data"].X, res["data"].y, res["kkt"].support,
                         res["samples"], res["naive_samples"], box=cfg.box,
                         metrics={k: {"recall": m[k]["sv_recall"], "precision": m[k]["precision"]}
                                  for k in ("gbc", "naive")})
    fig.savefig(out / "figure.png", dpi=110, bbox_inches="tight")
    atomic_write_json(m, out / "metrics.json")
    print(json.dumps({k: m[k] for k in ("classifier", "gbc", "naive", "seconds")}, indent=2))
    print(f"wrote {out / 'figure.png'} and {out / 'metrics.json'}")
    return 0


def _data_download(args) -> int:
    from .data import default_data_dir, mnist_download

    if args.dataset != "mnist":
        print(f"unknown dataset {args.dataset!r}; only 'mnist' can be downloaded "
              "(CelebA needs a manual download, see data/README.md)", file=sys.stderr)
        return 2
    dest = Path(args.dest) if args.dest else default_data_dir() / "mnist"
    path = mnist_download(dest)
    print(f"MNIST verified in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gbc-teach", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("toy2d", help="2-D toy: classifier, GBC generator, naive baseline")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="outputs/toy2d")
    t.add_argument("--fast", action="store_true", help="the CI profile: fewer steps")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(fn=_toy2d)

    d = sub.add_parser("data", help="data sets: download and verify")
    dsub = d.add_subparsers(dest="action", required=True)
    dl = dsub.add_parser("download", help="download a data set with checksums")
    dl.add_argument("dataset", choices=["mnist"])
    dl.add_argument("--dest", default=None, help="folder (default: $GBC_DATA_DIR/mnist or data/mnist)")
    dl.set_defaults(fn=_data_download)

    try:  # the MNIST commands live with the MNIST experiment
        from .mnist import add_mnist_commands
    except ImportError:
        pass
    else:
        add_mnist_commands(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        return args.fn(args)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"gbc-teach {args.cmd}: error: {e}", file=sys.stderr)
        return 1
    finally:
        if getattr(args, "quiet", False) is False:
            print(f"[{time.perf_counter() - t0:.1f} s]", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
