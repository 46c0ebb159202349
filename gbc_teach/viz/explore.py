"""Helpers for the explorers of notebooks 02 and 03: tracked training runs, Λ families, Euler sides.

Notebook 02 (docs/method.md §4, §7): train the toy classifier while fitting the KKT multipliers μ at
every logged step, over a grid of initial scales × learning-rate rules, and keep the
checkpoints so a widget can index into them instead of retraining.
Notebook 03 (docs/method.md §3): the family of valid Λ, both sides of f(x; e^{sΛ}θ) = e^s f(x; θ),
and the quantities gradient flow conserves along the rescaling symmetries.
"""

from __future__ import annotations

import copy
import math
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from ..homogeneity import LambdaResult, scale_params
from ..kkt import kkt_fit
from ..training import train_classifier
from .plots import class_color, plot_landscape, plot_toy


def track_training(model: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int, rule: str,
                   lr: float, n_logs: int = 20, Pi: torch.Tensor | None = None,
                   lam: torch.Tensor | None = None, lam_max: float = 1 / 3,
                   lr_final: float = 1.0) -> dict:
    """train_classifier with a KKT fit and a checkpoint at each of n_logs + 1 logged steps.

    Returns train_classifier's history plus, per logged step: 'kkt_residual', 'mu' (N,),
    'q' (N,), 'support' (N,) and 'state' (a state_dict copy), and 'seconds'.
    """
    extra: dict[str, list] = {"kkt_residual": [], "mu": [], "q": [], "support": [], "state": []}

    def callback(step, m):
        k = kkt_fit(m, X, y, Pi)
        extra["kkt_residual"].append(k.residual)
        extra["mu"].append(k.mu)
        extra["q"].append(k.q)
        extra["support"].append(k.support)
        extra["state"].append(copy.deepcopy(m.state_dict()))

    t0 = time.perf_counter()
    hist = train_classifier(model, X, y, steps=steps, lr=lr, rule=rule, lam=lam, lam_max=lam_max,
                            lr_final=lr_final, log_every=max(steps // n_logs, 1), progress=False,
                            callback=callback)
    hist.update(extra)
    hist["seconds"] = time.perf_counter() - t0
    return hist


def sweep_training(make_model, X: torch.Tensor, y: torch.Tensor, scales, rules: dict,
                   steps: int, n_logs: int = 20, seed: int = 0, **kw) -> dict:
    """track_training for every (init scale, rule); rules maps a rule name to its kwargs
    (lr, lr_final, lam, ...). make_model(scale) builds a fresh net, seeded the same for each run.
    Returns {(scale, rule): history}."""
    runs = {}
    for scale in scales:
        for rule, opts in rules.items():
            torch.manual_seed(seed)  # the same initial direction for every run
            runs[(scale, rule)] = track_training(make_model(scale), X, y, steps, rule,
                                                 n_logs=n_logs, **{**kw, **opts})
    return runs


def load_state(model: nn.Module, state: dict) -> nn.Module:
    """A copy of model holding a stored checkpoint."""
    m = copy.deepcopy(model)
    m.load_state_dict(state)
    return m


def family_member(res: LambdaResult, t) -> torch.Tensor:
    """λ(t) = λ_chosen + N t, N the null-space basis of the Euler system: another valid Λ."""
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
    if t.numel() != res.null_space.shape[1]:
        raise ValueError(f"t needs {res.null_space.shape[1]} entries (null-space dimension), "
                         f"got {t.numel()}")
    return res.lam + res.null_space @ t


def Pi_of(lam: torch.Tensor, pi_tol: float = 1e-6) -> torch.Tensor:
    """Π: the tensors whose λ_k equals λ_max (within a relative tolerance)."""
    lam_max = float(lam.max())
    return lam >= lam_max - pi_tol * max(1.0, abs(lam_max))


@torch.no_grad()
def euler_sides(model: nn.Module, lam: torch.Tensor, x: torch.Tensor, s: float):
    """Both sides of the scaling identity: (f(x; e^{sΛ}θ), e^s f(x; θ)), float64, flattened."""
    m64 = copy.deepcopy(model).double()
    lhs = scale_params(m64, lam, s)(x.double()).flatten()
    rhs = math.exp(s) * m64(x.double()).flatten()
    return lhs, rhs


def conserved_quantities(model: nn.Module, null_space: torch.Tensor) -> torch.Tensor:
    """c = Nᵀ (‖θ_k‖²)_k: constant under gradient flow for every null vector n of the Euler system.

    A n = 0 means Σ_k n_k ⟨θ_k, ∇_{θ_k} f⟩ = 0 (θ_k → e^{a n_k} θ_k leaves f unchanged), and
    d/dt ‖θ_k‖² = −2⟨θ_k, ∇_{θ_k} L⟩ under gradient flow, so d/dt Σ_k n_k ‖θ_k‖² = 0.
    """
    sq = torch.tensor([float(p.detach().double().pow(2).sum()) for p in model.parameters()],
                      dtype=torch.float64)
    return null_space.T @ sq


def plot_kkt_state(model: nn.Module, X, y, mu, q, support, hist: dict | None = None,
                   index: int | None = None, box: float = 2.2, resolution: int = 120):
    """Three panels: landscape with points sized by μ | μ_i against q_i/q_min | KKT residual."""
    q = torch.as_tensor(q).double()
    mu = torch.as_tensor(mu).double()
    q_min = float(q.min())
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    plot_landscape(model, box, ax=axes[0], resolution=resolution, q_min=q_min)
    plot_toy(X, y, ax=axes[0], support=support, mu=mu)
    axes[0].set_title(f"μ (marker area), {int(torch.as_tensor(support).sum())} support vectors")
    ax = axes[1]
    for c in torch.unique(torch.as_tensor(y)).tolist():
        m = torch.as_tensor(y) == c
        ax.scatter((q[m] / q_min).numpy(), (mu[m] / mu.max().clamp_min(1e-30)).numpy(), s=30,
                   color=class_color(c))
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("q_i / q_min")
    ax.set_ylabel("μ_i / max μ")
    ax.set_title("complementary slackness: μ_i > 0 only at q_i = q_min")
    ax = axes[2]
    if hist is not None:
        ax.plot(hist["step"], hist["kkt_residual"], color="C0")
        if index is not None:
            ax.plot(hist["step"][index], hist["kkt_residual"][index], "o", color="C3")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("KKT residual")
        ax.set_title("‖Πθ − Σ μ_i ∇q_i‖ / ‖Πθ‖")
    else:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_euler(model: nn.Module, res: LambdaResult, x: torch.Tensor, s: float,
               lam: torch.Tensor | None = None):
    """Two panels: f(x; e^{sΛ}θ) against e^s f(x; θ) | the per-tensor λ_k (Π in colour)."""
    lam = res.lam if lam is None else lam
    lhs, rhs = euler_sides(model, lam, x, s)
    err = float((lhs - rhs).abs().max() / rhs.abs().max().clamp_min(1e-300))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 1.6]})
    ax = axes[0]
    lo, hi = float(torch.minimum(lhs, rhs).min()), float(torch.maximum(lhs, rhs).max())
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
    ax.scatter(rhs.numpy(), lhs.numpy(), s=8, color="C0")
    ax.set_xlabel("e^s f(x; θ)")
    ax.set_ylabel("f(x; e^{sΛ} θ)")
    ax.set_title(f"s = {s:+.2f}: max rel. error {err:.1e}")
    ax = axes[1]
    Pi = Pi_of(lam)
    colors = ["C3" if p else "C0" for p in Pi.tolist()]
    ax.bar(range(len(lam)), lam.numpy(), color=colors)
    ax.set_xticks(range(len(lam)))
    ax.set_xticklabels(res.names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("λ_k")
    ax.set_title(f"Λ ({res.choice if lam is res.lam else 'given'}); red: Π, λ_max = "
                 f"{float(lam.max()):.3f}")
    fig.tight_layout()
    return fig
