"""The generator's losses: stationarity and duality (docs/method.md §5–6; notebook 04).

With p the generator's distribution, the KKT conditions on the trained θ read

    Πθ = α · E_{(x,y)~p}[∇_θ q(x, y; θ)],   α = λ_max ‖Πθ‖² / q_min,

and every sample should sit on the margin, q = q_min. So

    L_stat = ‖Πθ − α v‖² / ‖Πθ‖²,   v = E[∇_θ q]   (one backward with create_graph=True),
    L_dual = mean u(q / q_min − 1),  u(t) = t² for t ≥ 0, κ·t² for t < 0 (feasibility first),

and L = L_stat + β L_dual. Only the generator and the scalars (α, q_min, class weights) train.

A multi-class max-margin problem has one constraint per wrong class, f_y − f_j ≥ 1, and a
classifier trained with weight decay satisfies its KKT form exactly, with known multipliers:
wd·θ = (1/n) Σ_i Σ_{j≠y_i} p_ij ∇_θ(f_{y_i} − f_j)(x_i) = −∇_θ (1/n) Σ_i CE_i. So with
stat_form='pairs' the expectation is of that softmax-weighted sum over wrong classes,

    v = E_p[Σ_{j≠y} p_j(x) ∇_θ(f_y − f_j)(x)] = E_p[∇_θ log p_y(x)],

Π keeps every tensor, and no q_min is needed (qmin_mode='none'): the weights come with x.

Multi-label (labels a ∈ {0, 1}^A, one logit per attribute; docs/method.md §11): each (image,
attribute) pair is a constraint q_a = s_a f_a ≥ 1, s_a = 2a_a − 1, and BCE with weight decay gives
wd·θ = (1/n) Σ_i Σ_a σ(−q_ia) ∇_θ q_ia, so stat_form='pairs' matches

    v = E_p[Σ_a σ(−q_a) ∇_θ q_a] = E_p[∇_θ log p(s | x)],   log p(s | x) = Σ_a log σ(q_a).

Weight decay also fixes the scale: with p uniform over the n training points, α = 1/wd exactly.
The closed-form α forgets it, and the direction alone has spurious solutions (low-contrast
blends of the training images whose margins are small and whose multipliers are far too large,
docs/method.md §11). scale_target = α* puts it back as a penalty on the size of v:

    L_scale = (log ‖v‖ − log(‖Πθ‖ / α*))²,   L = L_stat + β L_dual + γ L_scale.

Every expectation over p is a batch mean, and every batch mean passes through `reduce`: the
identity in one process; with the batch split over several processes (`gbc_teach.parallel`),
the mean over them of each one's batch mean, which is the mean over the whole batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .margins import q as margin
from .margins import q_attrs


def u_loss(t: torch.Tensor, kappa: float = 4.0) -> torch.Tensor:
    """U-shaped penalty around t = 0, κ times steeper below (a margin under q_min is infeasible)."""
    return torch.where(t < 0, kappa * t * t, t * t)


def stationarity(t: list[torch.Tensor], v: list[torch.Tensor], alpha: torch.Tensor | None,
                 t_sq: float, blocks: list[int] | None = None, vv: torch.Tensor | None = None):
    """‖t − α v‖² / ‖t‖², summed over tensors as ‖t‖² − 2α⟨t, v⟩ + α²‖v‖² (no concatenation).

    alpha=None: the best α = ⟨t, v⟩/‖v‖² (1-D least squares), which leaves 1 − cos²(t, v);
    written 1 − ⟨t,v⟩|⟨t,v⟩|/(‖t‖²‖v‖²) so that a negative ⟨t, v⟩ is still pushed up.
    blocks: indices of the tensors where t may be non-zero (Πθ is zero outside Π); ⟨t, v⟩
    skips the others, which saves full-size products with zeros and their backward.
    vv: ‖v‖², if the caller has it already. Returns (L_stat, alpha).
    """
    pairs = zip(t, v) if not blocks else ((t[k], v[k]) for k in blocks)
    tv = sum((a * b).sum() for a, b in pairs)
    if vv is None:
        vv = sq_norm(v, t_sq)
    if alpha is None:
        # α must stay positive (a negative α would flip q_min's sign when tied to it)
        return 1 - tv * tv.abs() / (t_sq * vv), (tv.clamp_min(1e-12 * t_sq) / vv).detach()
    return (t_sq - 2 * alpha * tv + alpha * alpha * vv) / t_sq, alpha


def sq_norm(v: list[torch.Tensor], t_sq: float) -> torch.Tensor:
    """‖v‖² over every tensor, floored at 10⁻³⁰‖Πθ‖² (v = 0 when no sample is active)."""
    return sum((b * b).sum() for b in v).clamp_min(1e-30 * t_sq)


def no_reduce(t):
    """The batch is all in this process: its batch mean is already the mean over p."""
    return t


class GBCObjective(nn.Module):
    """L = L_stat + β·L_dual for one frozen classifier, with learnable α, q_min and class weights.

    qmin_mode: 'free' (q_min learned beside α), 'tied' (q_min = λ_max‖Πθ‖²/α), or 'none'
    (stationarity only). reduce: maps this process's batch mean to the whole batch's (module
    docstring); the identity unless the batch is split over processes.
    """

    def __init__(self, classifier: nn.Module, Pi: torch.Tensor, lam_max: float, n_classes: int,
                 qmin_mode: str = "free", beta: float = 1.0, kappa: float = 4.0,
                 class_weights: bool = True, alpha_mode: str = "learned", stat_form: str = "q",
                 reduce=no_reduce, scale_target: float | None = None, scale_weight: float = 0.0):
        super().__init__()
        self.reduce = reduce
        if stat_form not in ("q", "pairs"):
            raise ValueError(f"stat_form must be 'q' or 'pairs', got {stat_form!r}")
        self.stat_form = stat_form
        if qmin_mode not in ("free", "tied", "mean", "none"):
            raise ValueError("qmin_mode must be 'free', 'tied', 'mean' or 'none', "
                             f"got {qmin_mode!r}")
        self.classifier = classifier
        for p in classifier.parameters():  # θ is frozen: only the first backward differentiates it
            p.requires_grad_(True)
        self.theta = list(classifier.parameters())
        self.t = [p.detach() * float(m) for p, m in zip(self.theta, Pi)]  # Πθ, fixed
        self.t_sq = float(sum(float(x.pow(2).sum()) for x in self.t))  # ‖Πθ‖², computed once
        self.t_blocks = [k for k, m in enumerate(Pi) if bool(m)]  # where Πθ may be non-zero
        self.lam_max, self.n_classes = lam_max, n_classes
        if alpha_mode not in ("learned", "closed"):
            raise ValueError(f"alpha_mode must be 'learned' or 'closed', got {alpha_mode!r}")
        self.qmin_mode, self.beta, self.kappa, self.alpha_mode = qmin_mode, beta, kappa, alpha_mode
        if scale_weight and not (scale_target and scale_target > 0):
            raise ValueError(f"scale_weight {scale_weight} needs a positive scale_target (the "
                             f"known α, 1/wd for weight decay), got {scale_target!r}")
        # the size of v at the stationary point: ‖v‖ = ‖Πθ‖ / α*
        self.scale_weight = scale_weight
        self.log_v_target = math.log(self.t_sq ** 0.5 / scale_target) if scale_weight else 0.0
        dev = self.theta[0].device  # the scalars live with θ: no .to(device) needed after
        self.log_alpha = nn.Parameter(torch.zeros((), device=dev))
        self.log_qmin = nn.Parameter(torch.zeros((), device=dev))
        self.class_logits = nn.Parameter(torch.zeros(n_classes, device=dev),
                                         requires_grad=class_weights)
        self.initialized = False

    def class_weights(self) -> torch.Tensor:
        """w_c = C·softmax(logits)_c: mean 1, so uniform labels with weights w give the prior."""
        return self.n_classes * torch.softmax(self.class_logits, 0)

    def sample_weights(self, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """Sample i's weight in p: class_weight[y_i]·w_i (w: the generator's code weights, or 1);
        attribute labels (N, A) have no class weights. A one-logit binary classifier's labels
        y ∈ {−1, +1} index the weights of its two classes as 0 and 1 (clamped, no host sync)."""
        c = (self.class_weights()[y.clamp_min(0)] if y.dim() == 1
             else torch.ones(len(y), device=y.device))
        return c * (1 if w is None else w)

    def _apply(self, fn, *args, **kwargs):
        """.to() / .double() / .cuda() move Πθ with the classifier (a plain list, not a buffer:
        it is no state to save, it is read off θ)."""
        super()._apply(fn, *args, **kwargs)
        self.t = [fn(x) for x in self.t]
        return self

    def alpha(self) -> torch.Tensor | None:
        """The learned α, or None for the closed form α = ⟨Πθ, v⟩/‖v‖² (alpha_mode='closed')."""
        return self.log_alpha.exp() if self.alpha_mode == "learned" else None

    def q_min(self, alpha: torch.Tensor, qs: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        """q_min by qmin_mode: learned ('free'), λ_max‖Πθ‖²/α ('tied'), E_w[q] ('mean')."""
        if self.qmin_mode == "tied":  # q_min = λ_max ‖Πθ‖² / α  (docs/method.md §5)
            return self.lam_max * self.t_sq / alpha
        if self.qmin_mode == "mean":  # homogeneous nets: q_min = E_w[q] at stationarity
            # E_w[q] = Σ_i w_i q_i / Σ_i w_i over the whole batch (a ratio: reduce's 1/W cancels)
            return (self.reduce((ws * qs).sum()) / self.reduce(ws.sum())).detach()
        return self.log_qmin.exp()

    def v_of(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None):
        """v = E_p[∇_θ q] (or E_p[∇_θ log p_y], stat_form='pairs') with its graph
        (create_graph=True), and the margins q.

        Sample i has weight class_weight[y_i]·w_i (w: the generator's code weights, or 1).
        """
        logits = self.classifier(x)
        qs = margin(logits, y, check=False)  # labels come from the generator loop
        w = self.sample_weights(y, w)
        if y.dim() == 2:  # attributes: ∇ log p(s|x) = Σ_a σ(−q_a) ∇q_a, log p(s|x) = Σ_a log σ(q_a)
            s = qs if self.stat_form == "q" else F.logsigmoid(q_attrs(logits, y, False)).sum(1)
        else:  # ∇ log p_y = Σ_{j≠y} p_j ∇(f_y − f_j): every wrong class, softmax-weighted
            s = qs if self.stat_form == "q" else -F.cross_entropy(logits, y, reduction="none")
        # v = E_p[w ∇_θ s] = ∇_θ of the batch mean of w·s, over the whole batch (reduce)
        v = self.reduce(torch.autograd.grad((w * s).mean(), self.theta, create_graph=True))
        return v, qs

    @torch.no_grad()
    def init_scalars(self, x: torch.Tensor, y: torch.Tensor, w=None) -> None:
        """α from the 1-D least squares α = ⟨Πθ, v⟩/‖v‖² on a first batch; q_min tied to it."""
        with torch.enable_grad():
            v, qs = self.v_of(x.detach(), y, None if w is None else w.detach())
        tv = sum(float((a * b).sum()) for a, b in zip(self.t, v))
        vv = sum(float((b * b).sum()) for b in v)
        if not vv > 0:  # also catches NaN
            raise ValueError(f"E_p[∇_θ q] is {vv ** 0.5:g} on this batch of {len(x)} samples: the "
                             "classifier's margin gradients vanish (all ReLUs dead, or a saturated "
                             "output?), so α = ⟨Πθ, v⟩/‖v‖² is undefined")
        alpha = tv / vv if tv > 0 else math.sqrt(self.t_sq / vv)
        self.log_alpha.fill_(math.log(alpha))
        self.log_qmin.fill_(math.log(self.lam_max * self.t_sq / alpha))
        self.initialized = True

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> dict:
        """The losses of a batch x with labels y (and code weights w) drawn from the generator."""
        if not self.initialized:
            self.init_scalars(x, y, w)
        v, qs = self.v_of(x, y, w)  # v = E_p[∇_θ q], differentiable in x
        # L_stat = ‖Πθ − α v‖² / ‖Πθ‖²
        vv = sq_norm(v, self.t_sq)
        L_stat, alpha = stationarity(self.t, v, self.alpha(), self.t_sq, self.t_blocks, vv)
        # L_dual = E_p[u(q / q_min − 1)]: every sample of p on the margin, weighted like v
        ws = self.sample_weights(y, w)
        q_min = self.q_min(alpha, qs, ws)
        L_dual = (self.reduce((ws * u_loss(qs / q_min - 1, self.kappa)).mean())
                  if self.qmin_mode != "none"  # stationarity only: 'pairs' needs no q_min
                  else torch.zeros((), device=x.device))
        # L = L_stat + β L_dual
        loss = L_stat + self.beta * L_dual
        out = {"loss": loss, "L_stat": L_stat, "L_dual": L_dual, "alpha": alpha,
               "q_min": q_min, "q": qs}
        if self.scale_weight:  # L_scale = (log ‖v‖ − log(‖Πθ‖/α*))²
            out["L_scale"] = (0.5 * torch.log(vv) - self.log_v_target) ** 2
            out["loss"] = loss + self.scale_weight * out["L_scale"]
        return out
