"""The one interface every experiment shares: config, data, classifier, run (README, "Layout").

An experiment of the course is four steps — a config (a dataclass with named profiles), its
data, a classifier trained on them, and the run that trains generators against the frozen
classifier and measures them — plus what a run leaves behind: the files of its run folder and
the lines it prints. `gbc_teach.cli` builds one subcommand per `Experiment`; the notebooks call
the same functions one cell at a time.

    exp = toy2d.EXPERIMENT
    cfg = exp.config("default", fast=True)
    data = exp.data(0, cfg)
    model, lam, history = exp.classifier(data, cfg)
    result = exp.run(0, cfg)                     # all of it, with metrics
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Option:
    """An experiment-specific command-line option, passed to `run` as a keyword."""

    default: Any
    help: str


@dataclass(frozen=True)
class Experiment:
    """What `gbc-teach NAME` and a notebook need of an experiment.

    config(profile, fast) → a config dataclass (`--set key=value` then edits its fields);
    data(seed, cfg, data_dir=None) → the experiment's data; classifier(data, cfg) →
    (model, Λ, history); run(seed, cfg, progress=..., data_dir=..., **options) → a dict with
    'metrics'; write(result, folder) → names of the files written; report(result) → text.
    """

    name: str
    help: str
    config: Callable[[str, bool], Any]
    data: Callable[..., Any]
    classifier: Callable[[Any, Any], tuple]
    run: Callable[..., dict]
    write: Callable[[dict, Path], list[str]]
    report: Callable[[dict], str]
    profiles: tuple[str, ...] = ("default",)
    profile_help: dict[str, str] = field(default_factory=dict)  # what each profile is
    options: dict[str, Option] = field(default_factory=dict)
    reads_mnist: bool = False  # takes --data (a folder of MNIST IDX files)

    def profiles_text(self) -> str:
        """`--profile`'s help: what each profile is, the first the default."""
        return "; ".join(f"{n}: {self.profile_help.get(n, n)}" for n in self.profiles) \
            + f" (default: {self.profiles[0]})"
