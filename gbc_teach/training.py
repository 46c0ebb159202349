"""Training the classifier into the max-margin regime (docs/method.md §1, §7; notebooks 01, 02).

Gradient descent on cross-entropy drives a (quasi-)homogeneous net towards a KKT point of the
max-margin problem only in the limit. Two things get there faster: a small initial scale and
normalized GD, whose step lr_t = min(lr / L(θ_t), lr_cap) keeps moving as the loss vanishes.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .margins import q as margin
from .margins import q_attrs


class NonFiniteError(RuntimeError):
    """A loss became NaN or inf; the model was restored to its last good state."""


def check_labelled(X: torch.Tensor, y: torch.Tensor, n_classes: int | None = None) -> None:
    """Clear errors for wrong shapes, NaN inputs and empty classes."""
    if X.dim() < 2:
        raise ValueError(f"X must be (N, ...) with a batch dimension, got shape {tuple(X.shape)}")
    # (N,) integer class labels, or (N, A) attribute labels as floats 0/1 (an integer (N, 1) is
    # a class vector with a stray dimension, not one attribute)
    if y.dim() not in (1, 2) or len(y) != len(X) or (y.dim() == 2 and not y.is_floating_point()):
        raise ValueError(f"y must be (N,) integer labels or (N, A) float attributes with N = {len(X)}, "
                         f"got shape {tuple(y.shape)} ({y.dtype})")
    if not torch.isfinite(X).all():
        raise ValueError("X contains NaN or inf")
    if n_classes is not None and y.dim() == 1:
        counts = torch.bincount(y.long(), minlength=n_classes)
        if len(counts) > n_classes:
            raise ValueError(f"labels go up to {int(y.max())} but the model has {n_classes} classes")
        empty = (counts == 0).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"class(es) {empty} have no training points")


def log_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log of the mean cross-entropy, computed without underflow when every margin is large.

    CE_i = softplus(s_i) with s_i = logsumexp_{j≠y} (f_j − f_y); log softplus(s) ≈ s for s ≪ 0.
    Attribute labels (N, A): the binary cross-entropy summed over attributes, s_ia = −q_ia.
    """
    if y.dim() == 2:  # ℓ_i = Σ_a softplus(−q_ia): one term per (image, attribute)
        s = -q_attrs(logits, y, check=False).flatten()
        return torch.logsumexp(_log_softplus(s), 0) - math.log(len(y))
    diff = logits - logits.gather(1, y[:, None])  # f_j − f_y, (N, C)
    diff = diff.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return torch.logsumexp(_log_softplus(torch.logsumexp(diff, 1)), 0) - math.log(len(y))


def _log_softplus(s: torch.Tensor) -> torch.Tensor:
    """log softplus(s), exact to float precision for s ≪ 0 (where softplus(s) ≈ e^s underflows)."""
    return torch.where(s < -30.0, s, torch.log(F.softplus(s.clamp_min(-30.0))))


def normalized_margin(qs: torch.Tensor, model: nn.Module, lam_max: float, Pi=None) -> float:
    """q_min / ‖Πθ‖^{1/λ_max}: invariant to θ → e^{sΛ}θ, so it measures direction only."""
    params = list(model.parameters())
    Pi = [True] * len(params) if Pi is None else Pi
    norm = math.sqrt(sum(float(p.detach().pow(2).sum()) for p, m in zip(params, Pi) if m))
    return float(qs.min()) / norm ** (1.0 / lam_max)


def _restore_and_raise(model: nn.Module, good: dict, loss: float, step: int, hist: dict):
    model.load_state_dict(good)
    last = hist["step"][-1] if hist["step"] else 0
    raise NonFiniteError(f"classifier loss became {loss} at step {step}; "
                         f"model restored to its last good state (step {last})")


def train_classifier(model: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int = 10000,
                     lr: float = 0.05, rule: str = "normalized", lr_cap: float = 1e4,
                     lam_max: float = 1 / 3, lr_final: float = 1.0, log_every: int = 100,
                     progress: bool = True, callback=None, lam: torch.Tensor | None = None,
                     q_cap: float = 1e8, q_reset: float = 1e4) -> dict:
    """Full-batch GD on cross-entropy (for attribute labels (N, A): binary cross-entropy summed
    over attributes); rule 'normalized' (lr/L, capped) or 'plain' (fixed lr).

    rule 'relative': a step of lr·‖θ‖ along −∇log L/‖∇log L‖, decayed geometrically to
    lr·lr_final; ‖θ‖ then grows geometrically, so with `lam` (a valid Λ) the net is moved back
    along θ → e^{−sΛ}θ (same decisions, margins ÷ e^s) whenever q_min exceeds q_cap, to
    q_min = q_reset; at such margins cross-entropy already acts as a hard minimum.
    Returns a history dict: step, loss, train_acc, q_min, normalized margin.
    callback(step, model), if given, runs at every log step (e.g. a KKT residual).
    """
    if rule not in ("normalized", "plain", "relative"):
        raise ValueError(f"rule must be 'normalized', 'plain' or 'relative', got {rule!r}")
    check_labelled(X, y)
    # Π of `lam` (its tensors at λ_max): γ divides by ‖Πθ‖^{1/λ_max}, invariant to θ → e^{sΛ}θ
    Pi = None if lam is None else (lam >= lam_max - 1e-6 * max(1.0, abs(lam_max))).tolist()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    hist: dict[str, list] = {"step": [], "loss": [], "train_acc": [], "q_min": [], "norm_margin": []}
    good = copy.deepcopy(model.state_dict())
    bar = tqdm(range(steps + 1), desc="classifier", disable=not progress, leave=False)
    for step in bar:
        logits = model(X)
        log_loss = log_cross_entropy(logits, y)
        loss = log_loss.detach().exp()
        logged = step % log_every == 0 or step == steps
        if logged and not torch.isfinite(loss):  # between log steps: checked with the scalars
            _restore_and_raise(model, good, float(loss), step, hist)
        if logged:
            good = copy.deepcopy(model.state_dict())
            qs = margin(logits.detach(), y, check=step == 0)  # labels checked once: host syncs
            hist["step"].append(step)
            hist["loss"].append(float(loss))
            hist["train_acc"].append(float(label_accuracy(logits.detach(), y)))
            hist["q_min"].append(float(qs.min()))
            hist["norm_margin"].append(normalized_margin(qs, model, lam_max, Pi))
            if callback is not None:
                callback(step, model)
            bar.set_postfix(loss=f"{float(loss):.2e}", acc=hist["train_acc"][-1])
        if step == steps:
            break
        # normalized GD: θ ← θ − min(lr/L, lr_cap)·∇L = θ − min(lr, lr_cap·L)·∇log L, and
        # ∇log L stays finite long after L itself underflows (L < 1e-38 in float32)
        grads = torch.autograd.grad(log_loss, params)
        # every scalar the step needs in one host transfer (one sync a step on a GPU); the
        # float64 sums below are the same left-to-right sums as before, bit for bit
        sq = ([g.pow(2).sum() for g in grads] + [p.detach().pow(2).sum() for p in params]
              if rule == "relative" else [])  # ‖∇‖², ‖θ‖²: only the relative rule uses them
        q_min = margin(logits.detach(), y, check=False).min()
        vals = torch.stack([t.double() for t in (loss, q_min, *sq)]).tolist()  # exact: f32 ⊂ f64
        L, q_now = vals[0], vals[1]
        if not math.isfinite(L):
            _restore_and_raise(model, good, L, step, hist)
        if lam is not None and q_now > q_cap:
            s = math.log(q_now / q_reset)
            with torch.no_grad():
                for p, l in zip(model.parameters(), lam):
                    p.mul_(math.exp(-s * float(l)))
            continue  # the gradient above belonged to the old scale
        if rule == "relative":  # a step of fixed size relative to ‖θ‖ along −∇log L
            gnorm = math.sqrt(sum(vals[2:2 + len(grads)]))
            pnorm = math.sqrt(sum(vals[2 + len(grads):]))
            # geometric decay lr → lr·lr_final over the run: large moves first, then settle
            eta = lr * lr_final ** (step / steps) * pnorm / max(gnorm, 1e-30)
        else:
            eta = lr * L if rule == "plain" else min(lr, lr_cap * L)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(eta * g)
    return hist


# ------------------------------------------------------------------------- weight decay
def data_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1/n) Σ_i ℓ_i: cross-entropy for class labels y (N,); for attribute labels (N, A) the binary
    cross-entropy summed over attributes, ℓ_i = Σ_a softplus(−q_ia) with q_ia = s_ia f_a(x_i)."""
    if y.dim() == 2:
        return F.softplus(-q_attrs(logits, y, check=False)).sum(1).mean()
    return F.cross_entropy(logits, y)


def label_accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Share of correct labels: argmax for classes; for attributes, per (image, attribute)."""
    if y.dim() == 2:
        return ((logits > 0) == (y > 0.5)).float().mean()
    return (logits.argmax(1) == y).float().mean()


def wd_objective(model: nn.Module, X: torch.Tensor, y: torch.Tensor, wd: float) -> torch.Tensor:
    """(1/n) Σ_i ℓ(f(x_i), y_i) + (wd/2)‖θ‖², ℓ = CE (classes) or BCE (attributes): data_loss."""
    sq = sum(p.pow(2).sum() for p in model.parameters())
    return data_loss(model(X), y) + 0.5 * wd * sq


def wd_residual(model: nn.Module, X: torch.Tensor, y: torch.Tensor, wd: float) -> float:
    """‖∇L + wd·θ‖ / ‖wd·θ‖: zero exactly at a stationary point of the weight-decay objective.

    There wd·θ = −∇L = (1/n) Σ_i Σ_{j≠y_i} p_ij ∇_θ(f_{y_i} − f_j)(x_i): the KKT form with
    known multipliers μ_ij = p_ij/(n·wd) (kkt.wd_multipliers); for attributes (BCE),
    wd·θ = (1/n) Σ_i Σ_a σ(−q_ia) ∇_θ q_ia, μ_ia = σ(−q_ia)/(n·wd)."""
    return _wd_state(model, X, y, wd)[2]


def stationarity_by_direction(model: nn.Module, layer: nn.Linear, X: torch.Tensor,
                              y: torch.Tensor, wd: float, k: int) -> list[float]:
    """How much of each of a linear layer's k strongest directions the loss holds up.

    With W = Σ_j s_j u_j v_jᵀ (its SVD), stationarity wd·W = −∇_W L asks, direction by direction,
        r_j = u_jᵀ(−∇_W L)v_j / (wd·s_j) = 1.
    ‖∇L + wd·θ‖/‖wd·θ‖ weighs every direction by its size, so a small residual can hide weak
    directions that are still decaying (r_j < 1): there the KKT form does not hold yet. (A
    necessary condition only: the off-diagonal u_iᵀ∇L v_j are not checked. Its precision is the
    model's dtype relative to s_j/s_1: float32 cannot resolve directions below about 10⁻⁶.)"""
    model.zero_grad(set_to_none=True)
    wd_objective(model, X, y, wd).backward()  # ∇L + wd·θ
    g = layer.weight.grad.detach().double()
    U, s, Vh = torch.linalg.svd(layer.weight.detach().double(), full_matrices=False)
    model.zero_grad(set_to_none=True)
    # r_j = 1 − u_jᵀ(∇L + wd·W)v_j / (wd·s_j)
    r = 1.0 - (U[:, :k].T @ g @ Vh[:k].T).diagonal() / (wd * s[:k])
    return r.tolist()


def _wd_state(model: nn.Module, X: torch.Tensor, y: torch.Tensor, wd: float):
    """(objective, training accuracy, residual) from one forward and one backward."""
    params = list(model.parameters())
    logits = model(X)
    ce = data_loss(logits, y)
    g = torch.autograd.grad(ce, params)
    sq = sum(p.detach().pow(2).sum() for p in params)
    num = sum((gi + wd * p.detach()).pow(2).sum() for gi, p in zip(g, params))
    den = sum((wd * p.detach()).pow(2).sum() for p in params)
    acc = label_accuracy(logits.detach(), y)
    return float(ce.detach() + 0.5 * wd * sq), float(acc), float((num / den).sqrt())


def train_weight_decay(model: nn.Module, X: torch.Tensor, y: torch.Tensor, wd: float = 5e-4,
                       adam_steps: int = 2000, lr: float = 1e-3, lbfgs_iters: int = 500,
                       tol: float = 0.0, log_every: int = 100, progress: bool = True) -> dict:
    """Full batch: Adam on the weight-decay objective, then L-BFGS to its stationary point.

    Adam gets close fast; L-BFGS (strong Wolfe line search) then drives the residual
    ‖∇L + wd·θ‖/‖wd·θ‖ down by orders of magnitude on a smooth net. Stops early once the
    residual is ≤ tol. Near the stationary point the residual wanders (the loss falls, its
    gradient need not), so the model ends on the L-BFGS iterate of lowest logged residual.
    Returns a history: step, loss, train_acc, residual and the seconds since the start (the
    L-BFGS phase is logged after each chunk of `log_every` iterations asked for; its steps count
    the iterations that ran, which can be fewer: a chunk ends early where its evaluation budget
    runs out).
    """
    check_labelled(X, y)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    hist: dict[str, list] = {"step": [], "loss": [], "train_acc": [], "residual": [], "seconds": []}
    t0 = time.perf_counter()

    def log(step: int) -> float:
        hist["seconds"].append(time.perf_counter() - t0)  # before the logging's own cost
        loss, acc, r = _wd_state(model, X, y, wd)
        for k, v in (("step", step), ("loss", loss), ("train_acc", acc), ("residual", r)):
            hist[k].append(v)
        if not math.isfinite(loss):
            raise NonFiniteError(f"weight-decay objective became {loss} at step {step}")
        return r

    opt = torch.optim.Adam(params, lr=lr)
    bar = tqdm(range(adam_steps), desc="classifier (Adam)", disable=not progress, leave=False)
    for step in bar:
        if step % log_every == 0 and log(step) <= tol:
            return hist
        opt.zero_grad(set_to_none=True)
        wd_objective(model, X, y, wd).backward()
        opt.step()
    chunk = max(1, min(log_every, lbfgs_iters))
    lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=chunk, history_size=50,
                              tolerance_grad=1e-12, tolerance_change=1e-15,
                              line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad(set_to_none=True)
        loss = wd_objective(model, X, y, wd)
        loss.backward()
        return loss

    asked = ran = 0  # iterations asked for (chunks of `chunk`) and iterations L-BFGS really ran
    best = (math.inf, None)  # (residual, state): the most stationary iterate logged
    bar = tqdm(total=lbfgs_iters, desc="classifier (L-BFGS)", disable=not progress, leave=False)
    while asked < lbfgs_iters:
        before = lbfgs.state[params[0]].get("n_iter", 0)
        lbfgs.step(closure)
        asked += chunk
        bar.update(chunk)
        # a chunk ends early where its evaluation budget (1.25 × chunk, line searches included)
        # or its tolerances run out: the history logs the iterations that ran
        now = lbfgs.state[params[0]]["n_iter"] - before
        if now == 0:  # converged to the tolerances: nothing moves any more
            break
        ran += now
        r = log(adam_steps + ran)
        if r < best[0]:
            best = (r, copy.deepcopy(model.state_dict()))
        if r <= tol:
            break
    if ran == 0:  # no L-BFGS phase: log where Adam stopped
        log(adam_steps)
    elif hist["residual"][-1] > best[0]:  # the residual wanders near the stationary point:
        model.load_state_dict(best[1])  # end on its lowest, logged again as the last step
        log(adam_steps + ran)
    return hist


def finish_in_float64(model: nn.Module, X: torch.Tensor, y: torch.Tensor, wd: float = 5e-4,
                      lbfgs_iters: int = 500, progress: bool = True) -> dict:
    """More L-BFGS on the weight-decay objective, in float64; the model goes back to its dtype.

    float32 L-BFGS stalls once its steps are lost in rounding (residual 10⁻³–10⁻²). Directions of a
    layer whose singular values are ~10⁻⁵ of the largest are then still decaying, level with what
    is left of the initialization; in float64 they settle and stand apart from it. That floor lies
    far above float32's rounding, so the finished weights keep it in float32 too.
    Returns train_weight_decay's history (residuals measured in float64) with the start logged
    at step 0; where no L-BFGS iterate is more stationary than the start, the start is put back
    and logged again as the last step."""
    dtype = next(model.parameters()).dtype
    X, start = X.double(), copy.deepcopy(model.double().train().state_dict())
    loss, acc, r0 = _wd_state(model, X, y, wd)
    hist = train_weight_decay(model, X, y, wd, adam_steps=0, lbfgs_iters=lbfgs_iters,
                              progress=progress)
    first = {"step": 0, "loss": loss, "train_acc": acc, "residual": r0, "seconds": 0.0}
    hist = {k: [first[k]] + v for k, v in hist.items()}
    if hist["residual"][-1] > r0:  # the residual wanders near the stationary point: keep the start
        model.load_state_dict(start)
        for k, v in hist.items():
            v.append(v[-1] if k in ("step", "seconds") else first[k])
    model.to(dtype)
    return hist
