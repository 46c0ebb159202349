"""Quasi-homogeneity: solve the Euler identity for Λ (docs/method.md §3; notebook 03).

f is Λ-quasi-homogeneous when f(x; e^{sΛ}θ) = e^s f(x; θ). Differentiating at s = 0:

    Σ_k λ_k ⟨θ_k, ∇_{θ_k} f_j(x; θ)⟩ = f_j(x; θ)      for every input x and output j,

one unknown λ_k per parameter tensor. Stacking rows (x, j) gives A λ = b, solved here by
SVD in float64 (torch.linalg.lstsq on CPU is unreliable for wide, rank-deficient systems).
Column k of A is the directional derivative of f along θ_k, one forward-mode jvp per tensor.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, jvp

from .models import ReLU


class NotQuasiHomogeneousError(ValueError):
    """The Euler identity has no solution: the network is not quasi-homogeneous."""


@dataclass
class LambdaResult:
    names: list[str]  # parameter names, one per tensor θ_k
    lam: torch.Tensor  # (K,) float64, the chosen Λ
    lam_max: float
    Pi: torch.Tensor  # (K,) bool, tensors with λ_k = λ_max
    residual: float  # ‖Aλ − b‖ / ‖b‖
    null_space: torch.Tensor  # (K, r) basis of {λ : Aλ = 0}: the family of valid Λ is lam + span
    rank: int
    choice: str

    def table(self) -> list[tuple[str, float, bool]]:
        """(name, λ_k, in Π) per tensor, for printing."""
        return [(n, float(v), bool(p)) for n, v, p in zip(self.names, self.lam, self.Pi)]


def _call(model: nn.Module, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
    return functional_call(model, (params, buffers), (x,))


def euler_system(model: nn.Module, x: torch.Tensor, scales=(0.5, 1.0, 2.0)):
    """Build A (rows: (input, output) pairs; columns: tensors) and b = f, in float64, on the CPU
    (computed on the model's device; A is small: rows × tensors)."""
    m64 = copy.deepcopy(model).double()  # a copy: float64 and BN running stats left untouched
    for mod in m64.modules():  # Λ is a property of the forward map: exact ReLU derivatives
        if isinstance(mod, ReLU):
            mod.a = None
    for mod in m64.modules():  # BN in training mode: batch statistics, no running-stat updates
        if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.training:
            mod.track_running_stats = False
    params = {n: p.detach() for n, p in m64.named_parameters()}
    buffers = {n: b.detach() for n, b in m64.named_buffers()}
    dev = next(m64.parameters(), x).device
    xs = torch.cat([s * x.double().to(dev) for s in scales])  # several input scales: more independent rows
    b = _call(m64, params, buffers, xs).reshape(-1)
    cols = []
    for name in params:
        tangent = {n: torch.zeros_like(p) for n, p in params.items()}
        tangent[name] = params[name]
        # column k: d/dt f(θ + t·θ_k e_k) at t = 0 = ⟨θ_k, ∇_{θ_k} f⟩
        _, col = jvp(lambda p: _call(m64, p, buffers, xs), (params,), (tangent,))
        cols.append(col.reshape(-1))
    return torch.stack(cols, 1).cpu(), b.cpu(), list(params)


def _svd_solve(A: torch.Tensor, b: torch.Tensor, rcond: float = 1e-10):
    """Minimum-norm least squares and a null-space basis via SVD."""
    U, S, Vh = torch.linalg.svd(A, full_matrices=True)
    keep = S > rcond * S.max() if S.numel() and S.max() > 0 else S > 0
    r = int(keep.sum())
    lam = Vh[:r].T @ ((U[:, :r].T @ b) / S[:r])
    return lam, Vh[r:].T, r


def last_layer_lambda(model: nn.Module) -> torch.Tensor:
    """Λ that scales only the last layer (its weight and bias): always valid for a linear head."""
    names = [n for n, _ in model.named_parameters()]
    last = names[-1].rsplit(".", 1)[0]
    return torch.tensor([1.0 if n.rsplit(".", 1)[0] == last else 0.0 for n in names],
                        dtype=torch.float64)


def find_non_homogeneous_module(model: nn.Module, x: torch.Tensor) -> str | None:
    """Name a parameter-free leaf module that is not positively homogeneous of some degree d ≥ 0:
    m(2h) ≠ 2^d·m(h) (ReLU: d = 1, relu²: d = 2; batch norm without affine parameters: d = 0, it
    makes the layers before it scale-invariant; GELU, sigmoid, tanh fail)."""
    model = copy.deepcopy(model)  # a copy: a train-mode forward would update BN running stats
    # Only modules that run after the first parameterized one matter: a fixed feature map
    # applied to the raw input (RBFLift, a constant feature) does not touch θ.
    inputs: dict[str, torch.Tensor] = {}
    seen_param = [False]
    hooks = []
    for name, m in model.named_modules():
        if len(list(m.children())) == 0:
            has_params = len(list(m.parameters(recurse=False))) > 0

            def hook(mod, inp, out, name=name, has_params=has_params):  # returns None
                if has_params:
                    seen_param[0] = True
                elif seen_param[0]:
                    inputs.setdefault(name, inp[0].detach())

            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    modules = dict(model.named_modules())
    for name, h in inputs.items():
        m = modules[name]
        g = torch.Generator().manual_seed(0)  # a generic probe of the input's shape and dtype
        if h.is_floating_point():
            h = torch.randn(h.shape, generator=g, dtype=h.dtype).to(h.device)
        with torch.no_grad():
            lhs, base = m(2.0 * h), m(h)
            ratio = float(lhs.norm() / base.norm().clamp_min(1e-30))
            degree = round(torch.log2(torch.tensor(max(ratio, 1e-30))).item(), 3)
            rhs = 2.0 ** degree * base
        if degree < 0 or not torch.allclose(lhs, rhs, rtol=1e-4,
                                             atol=1e-6 * (1 + rhs.abs().max().item())):
            return f"{name} ({type(m).__name__})"
    return None


def solve_lambda(model: nn.Module, x: torch.Tensor, choice: str | torch.Tensor = "min_norm",
                 tol: float = 1e-6, pi_tol: float = 1e-6) -> LambdaResult:
    """Solve A λ = b for Λ; choice 'min_norm', 'last_layer', 'uniform' or an explicit λ.

    'uniform' (one λ shared by every tensor) exists for homogeneous nets; it is the member of
    the family that gradient descent from a balanced start follows (notebook 03).

    Raises NotQuasiHomogeneousError, naming the module at fault, when the residual exceeds tol.
    """
    A, b, names = euler_system(model, x)
    lam_mn, null, rank = _svd_solve(A, b)
    res_mn = float((A @ lam_mn - b).norm() / b.norm().clamp_min(1e-300))
    # Any net with a linear head passes the identity with Λ on the head alone, so the residual
    # cannot catch a GELU or sigmoid inside: check every parameter-free module directly too.
    culprit = find_non_homogeneous_module(model, x)
    if culprit or not math.isfinite(res_mn) or res_mn > tol:
        where = (f" Module {culprit} is not positively homogeneous (m(2h) ≠ 2^d·m(h)), so only "
                 "the trivial head-only Λ would fit." if culprit else "")
        raise NotQuasiHomogeneousError(
            f"{type(model).__name__} is not quasi-homogeneous (Euler-identity residual "
            f"{res_mn:.3g}, tolerance {tol:g}), so its max-margin KKT conditions do not apply."
            f"{where}")
    if isinstance(choice, str):
        if choice == "min_norm":
            lam = lam_mn
        elif choice == "last_layer":
            lam = last_layer_lambda(model)
        elif choice == "uniform":  # one λ for every tensor that moves f (homogeneous nets)
            used = A.abs().sum(0) > 0
            c = float((A[:, used].sum(1) @ b) / A[:, used].sum(1).pow(2).sum())
            lam = torch.where(used, c, 0.0).double()
        else:
            raise ValueError(f"choice must be 'min_norm', 'last_layer', 'uniform' or a tensor, "
                             f"got {choice!r}")
        label = choice
    else:
        lam, label = torch.as_tensor(choice, dtype=torch.float64).flatten(), "given"
        if lam.numel() != len(names):
            raise ValueError(f"λ has {lam.numel()} entries, the model has {len(names)} tensors")
    residual = float((A @ lam - b).norm() / b.norm().clamp_min(1e-300))
    if residual > tol:
        raise NotQuasiHomogeneousError(
            f"the {label} Λ does not satisfy the Euler identity (residual {residual:.3g} > {tol:g})")
    lam_max = float(lam.max())
    Pi = lam >= lam_max - pi_tol * max(1.0, abs(lam_max))
    return LambdaResult(names, lam, lam_max, Pi, residual, null, rank, label)


def scale_params(model: nn.Module, lam: torch.Tensor, s: float) -> nn.Module:
    """A copy of model with θ_k ← e^{s λ_k} θ_k (to check f(e^{sΛ}θ) = e^s f(θ))."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for p, l in zip(out.parameters(), lam):
            p.mul_(math.exp(s * float(l)))
    return out


def Pi_theta(model: nn.Module, Pi: torch.Tensor) -> list[torch.Tensor]:
    """Πθ as a list of tensors (zeros where λ_k < λ_max), detached."""
    return [p.detach() * float(m) for p, m in zip(model.parameters(), Pi)]


def every_tensor(model: nn.Module) -> LambdaResult:
    """Π for a weight-decay classifier: every tensor, and no Λ needed.

    At a stationary point of L + (wd/2)‖θ‖², wd·θ = −∇L holds for the whole θ and for any
    architecture (smooth, biased, non-homogeneous): the KKT form of kkt.wd_multipliers. The
    'λ' of 1 everywhere is only a placeholder for code that reads lam_max.
    """
    names = [n for n, _ in model.named_parameters()]
    K = len(names)
    return LambdaResult(names, torch.ones(K, dtype=torch.float64), 1.0,
                        torch.ones(K, dtype=torch.bool), float("nan"),
                        torch.zeros(K, 0, dtype=torch.float64), 0, "weight decay: every tensor")
