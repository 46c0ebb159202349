"""Command-line settings read by type and checked by range: `--set KEY=VALUE`, `--seed`.

Each value is parsed by its dataclass field's type (bool, int, float, str, optional None), then
checked against the rules below; every refusal names the key, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import re
import types
import typing

MAX_SEED = 2**31 - 1  # every seed offset the experiments add stays inside torch's and numpy's range


class UsageError(ValueError):
    """A bad value on the command line (exit status 2, like argparse's own errors)."""


# the accepted values of the string settings (the code that uses each raises on others too)
CHOICES = {
    "act": ("relu", "relu2", "softplus"),
    "clf_rule": ("relative", "normalized", "plain", "weight_decay"),
    "stat_form": ("q", "pairs"),
    "lam_choice": ("last_layer", "min_norm", "uniform"),
    "qmin_mode": ("free", "tied", "mean", "none"),
    "alpha_mode": ("closed", "learned"),
    "gen_arch": ("conv", "mlp"),
    "stat_tensors": ("all", "Pi"),
    "gbc_bn_mode": ("train", "eval"),
    "gauge": ("stretch", "none"),
    "task": ("digits", "parity"),
    "arch": ("cnn", "mlp"),
    "start": ("random", "convex"),
    **dict.fromkeys(("gbc_start", "restart_start"), ("random", "noise")),
}
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
# (lowest, strict): numbers below (or at, when strict) the lowest are refused
MIN_VALUE = {
    **dict.fromkeys(("n_per_class", "n_pool", "n_eval_images", "eval_epochs", "width", "clf_steps",
                     "kkt_chunk", "z_dim", "n_codes", "hidden", "depth", "batch", "gen_steps",
                     "naive_steps", "bnstat_steps", "gen_channels", "threads", "n_samples",
                     "restarts", "n_eval_samples", "particle_mult", "mlp_width"), (1, False)),
    "scan_side": (2, False),
    **dict.fromkeys(("clf_lbfgs", "clf_f64_lbfgs", "particle_steps"), (0, False)),
    "n_classes": (2, False),
    "rbf_side": (0, False),
    **dict.fromkeys(("clf_lr", "clf_lr_final", "gen_lr", "gen_lr_final", "baseline_lr",
                     "rbf_width", "init_scale", "box", "kappa", "surrogate_a", "wd", "wd_lr",
                     "particle_lr", "atom_radius", "warm_lr", "gbc_lr_final", "scale_tol"),
                    (0, True)),
    **dict.fromkeys(("beta", "anchor_std", "r_bn", "scale_weight", "gen_restarts"), (0, False)),
}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _field_type(cls, key: str) -> tuple[type, bool]:
    """(base type, None allowed) of a dataclass field."""
    t = typing.get_type_hints(cls)[key]
    args = typing.get_args(t)
    if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union:
        base = [a for a in args if a is not type(None)]
        return base[0], type(None) in args
    return t, False


def parse_value(cls, key: str, text: str, flag: str = "--set"):
    """The value of field `key` of dataclass `cls` written as `text`; UsageError if it is not."""
    base, optional = _field_type(cls, key)
    where = f"{flag} {key}={text}"
    s = text.strip()
    if optional and s.lower() in ("none", "null"):
        return None
    try:
        if base is bool:
            if s.lower() not in TRUE + FALSE:
                raise ValueError
            return s.lower() in TRUE
        if base is int:
            return int(s)
        if base is float:
            v = float(s)
            if not math.isfinite(v):
                raise ValueError
            return v
    except ValueError:
        kind = {bool: "true or false", int: "a whole number",
                float: "a finite number"}[base]
        raise UsageError(f"{where}: {key} must be {kind}"
                         + (" or None" if optional else "")) from None
    return text


def check_value(key: str, value, where: str) -> None:
    """UsageError unless `value` is allowed for setting `key`."""
    if value is None:
        return
    if key in CHOICES and value not in CHOICES[key]:
        raise UsageError(f"{where}: {key} must be one of {', '.join(CHOICES[key])}")
    if key == "device" and not DEVICE_RE.match(str(value)):
        raise UsageError(f"{where}: device must be cpu, cuda, cuda:N, mps or auto")
    if key in MIN_VALUE and not isinstance(value, bool):
        lo, strict = MIN_VALUE[key]
        if value < lo or (strict and value == lo):
            raise UsageError(f"{where}: {key} must be {'>' if strict else '≥'} {lo}")


def validate(cfg) -> None:
    """Check every field of a config dataclass, and the rules that tie fields together."""
    for f in dataclasses.fields(cfg):
        check_value(f.name, getattr(cfg, f.name), f"setting {f.name}={getattr(cfg, f.name)!r}")
    n_classes = getattr(cfg, "n_classes", 10)
    if getattr(cfg, "batch", n_classes) < n_classes:  # every class in every generator batch
        raise UsageError(f"setting batch={cfg.batch}: batch must be ≥ the number of classes "
                         f"({n_classes}), so that every batch holds every class")
    gamma = getattr(cfg, "scale_weight", 0.0)
    if gamma:
        try:  # the rule GBCObjective's options are built by, checked before any run
            weight_decay_scale(cfg)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if getattr(cfg, "gen_restarts", 0) and not gamma:  # restarts are decided by L_scale
        raise UsageError(f"settings gen_restarts={cfg.gen_restarts!r} and scale_weight=0: "
                         "restarts need scale_weight > 0 (L_scale decides them)")


def weight_decay_scale(cfg) -> dict:
    """GBCObjective's scale options from a config: L_scale holds ‖v‖ to weight decay's known
    α = 1/wd (losses.py), so it needs a weight-decay classifier; off when scale_weight is 0."""
    if not cfg.scale_weight:
        return {"scale_target": None, "scale_weight": 0.0}
    if cfg.clf_rule != "weight_decay":
        raise ValueError(f"settings scale_weight={cfg.scale_weight!r} and clf_rule="
                         f"{cfg.clf_rule!r}: scale_weight needs clf_rule=weight_decay (its "
                         "α = 1/wd is the known scale; set scale_weight=0 for other rules)")
    return {"scale_target": 1 / cfg.wd, "scale_weight": cfg.scale_weight}


def apply_overrides(cfg, items: list[str] | None, flag: str = "--set"):
    """`cfg` with each 'KEY=VALUE' of `items` applied, parsed by type; the result validated."""
    fields = {f.name for f in dataclasses.fields(cfg)}
    over = {}
    for item in items or []:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq:
            raise UsageError(f"{flag} {item}: expected KEY=VALUE, e.g. {flag} {key or 'seed'}=1")
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise UsageError(f"{flag} {item}: unknown setting {key!r}{hint} "
                             f"(settings: {', '.join(sorted(fields))})")
        over[key] = parse_value(type(cfg), key, text, flag)
        check_value(key, over[key], f"{flag} {item}")
    cfg = dataclasses.replace(cfg, **over)
    validate(cfg)
    return cfg


def seed_arg(text: str) -> int:
    """argparse type of --seed: a whole number from 0 to MAX_SEED."""
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}, "
                                         f"got {text!r}")
    return seed


def add_run_arguments(p: argparse.ArgumentParser, out: str, config: str) -> None:
    """The options every command that writes a run folder shares."""
    p.add_argument("--seed", type=seed_arg, default=0, help=f"0 to {MAX_SEED}")
    p.add_argument("--out", default=out, help="the run folder; a rerun replaces it as a whole")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help=f"override one {config} field, e.g. --set gen_steps=3000")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
