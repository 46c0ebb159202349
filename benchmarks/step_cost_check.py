"""The per-sample reference (c) and the float64 gradient check of (b) against it.

(c) per-sample reference — the GBC step with v computed the way one might otherwise write it:
    per-sample gradients ∇_θ q_i by torch.func (vmap(grad(...))), v = Σ_i w_i ∇_θ q_i / B,
    then the same losses (the same GBCObjective code, only `v_of` replaced) and the same Adam
    step. Batch norm in training mode couples the samples (each q_i depends on the whole batch
    through the batch statistics, and so does v through ∂stats/∂θ), so per-sample gradients of
    the training-mode net do not exist as such. (c) therefore runs on the eval-mode classifier
    (BN normalizes with fixed statistics, samples are independent); (b) is also timed on that
    eval-mode classifier ("b_eval"), and the gradient check compares (b) and (c) there.
    Differences between BN modes are elementwise work only: the matmuls are the same.

Gradient check (before any timing; a benchmark of a wrong computation is worthless): on small
float64 cases (an MNIST-shaped 784-32-32-10 BN classifier in eval mode, with BN statistics
taken from a generated batch, and the 2-D toy in its default sizes), the gradient of the GBC
loss w.r.t. every trained parameter (G and the objective's scalars) from (b) must equal that of
(c) to max|g_b − g_c| ≤ GRAD_RTOL · max|g_c|.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch.func import functional_call, grad, vmap

from gbc_teach.homogeneity import solve_lambda
from gbc_teach.losses import GBCObjective
from gbc_teach.models import MLP, Generator

from step_cost_cases import (
    TOY_CLASSIFIER,
    TOY_GENERATOR,
    TOY_LAMBDA,
    bn_to_eval,
    mnist_classifier,
    mnist_defaults,
    trained_params,
)

GRAD_RTOL = 1e-9  # float64 gradient check: max|g_b − g_c| ≤ GRAD_RTOL · max|g_c|
# The check's MNIST-shaped generator: an MLP it can shrink (hidden 32), not the conv trunk.
MNIST_GENERATOR = dict(z_dim=32, n_classes=10, out_shape=(1, 28, 28), hidden=512, depth=2,
                       out="unit")


def margin_vmappable(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """q = f_y − max_{j≠y} f_j, as gbc_teach.margins.q (multi-class) but without its label
    checks, which are data-dependent control flow that vmap cannot trace."""
    C = logits.shape[-1]
    is_y = torch.arange(C, device=logits.device) == y[..., None]
    f_y = logits.gather(-1, y[..., None].long())[..., 0]
    return f_y - logits.masked_fill(is_y, float("-inf")).max(-1).values


class PerSampleGBCObjective(GBCObjective):
    """GBCObjective with v = Σ_i w_i ∇_θ q_i / B from per-sample gradients (torch.func).

    Everything else (α, q_min, L_stat, L_dual, class weights) is the parent's code. Valid only
    when the samples are independent: no BN in training mode.
    """

    def v_of(self, x, y, w=None):
        clf = self.classifier
        params = {n: p.detach() for n, p in clf.named_parameters()}
        buffers = dict(clf.named_buffers())

        def q_one(p, xi, yi):
            qi = margin_vmappable(functional_call(clf, (p, buffers), (xi[None],)), yi[None])[0]
            return qi, qi

        per_sample, qs = vmap(grad(q_one, has_aux=True), in_dims=(None, 0, 0))(params, x, y)
        ws = self.class_weights()[y] * (1 if w is None else w)
        v = [torch.tensordot(ws, per_sample[n], dims=1) / len(x) for n in params]
        return v, qs


@contextlib.contextmanager
def default_dtype(dtype):
    """Within the block, new tensors default to dtype (the float64 check); restored after."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def gradient_check(case: str = "mnist", batch: int = 16, seed: int = 0,
                   rtol: float = GRAD_RTOL) -> dict:
    """Gradients of the GBC loss from (b) and from the per-sample reference (c), float64.

    'mnist': a 784-32-32-10 BN classifier in eval mode (BN statistics of a generated batch) and
    a hidden-32 generator; 'toy': the toy defaults (no BN, training mode = eval mode).
    Returns max_rel_err = max|g_b − g_c| / max|g_c| over every trained parameter, the two
    losses, and ok = max_rel_err ≤ rtol.
    """
    with default_dtype(torch.float64):
        torch.manual_seed(seed)
        if case == "mnist":
            clf = mnist_classifier(32)
            G = Generator(**{**MNIST_GENERATOR, "hidden": 32})
            choice, n_classes = mnist_defaults().lam_choice, MNIST_GENERATOR["n_classes"]
        elif case == "toy":
            clf, G = MLP(**TOY_CLASSIFIER), Generator(**TOY_GENERATOR)
            choice, n_classes = TOY_LAMBDA, TOY_GENERATOR["n_classes"]
        else:
            raise ValueError(f"case must be 'mnist' or 'toy', got {case!r}")
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            x0 = G.training_batch(max(batch, 8), gen)[0]
        lam = solve_lambda(clf, x0, choice=choice)
        clf = bn_to_eval(clf, x0)
        obj_b = GBCObjective(clf, lam.Pi, lam.lam_max, n_classes)
        with torch.no_grad():
            obj_b.class_logits.normal_(0, 0.3, generator=gen)  # unequal class weights
        x, y, w = G.training_batch(batch, gen)
        obj_b.init_scalars(x, y, w)
        obj_c = PerSampleGBCObjective(clf, lam.Pi, lam.lam_max, n_classes)
        obj_c.load_state_dict(obj_b.state_dict())
        obj_c.initialized = True
        grads, losses = [], []
        for obj in (obj_b, obj_c):
            x, y, w = G.training_batch(batch, torch.Generator().manual_seed(seed + 2))
            loss = obj(x, y, w)["loss"]
            params = trained_params(G, obj)
            grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
            losses.append(float(loss.detach()))
    gb, gc = grads
    err = float((gb - gc).abs().max() / gc.abs().max().clamp_min(1e-300))
    return {"case": case, "batch": batch, "dtype": "float64", "max_rel_err": err, "rtol": rtol,
            "loss_b": losses[0], "loss_c": losses[1], "n_params": gb.numel(),
            "ok": bool(err <= rtol and math.isfinite(err))}
