"""What one GBC generator step costs, against one forward + backward of the classifier (issue 5).

    python benchmarks/step_cost.py [--device cpu|cuda] [--json] [--threads N|auto] [--quick]

Three things are timed, in one run and interleaved (trial by trial, so that a change in the
machine's load hits all of them alike); each number is the median over trials:

(a) fwd+bwd — the floor's unit. The classifier alone, on a batch of generated images that is
    fixed and detached: forward, margins q, and one backward of the batch-mean margin w.r.t. θ
    (torch.autograd.grad, no graph). Same BN mode as (b).
(b) GBC step — what one iteration of `gbc_teach.gbc.train_generator` does: generator forward
    (G.training_batch), the full GBCObjective (v = E[∇_θ q] by one backward with
    create_graph=True, α, q_min, L_stat, L_dual), the second backward into G and the scalars,
    and the Adam step (configured as train_generator configures it; the LR schedule's one
    Python call is left out). MNIST: BN in training mode (batch statistics), the default.
(c) per-sample reference — the same step with v computed the way one might otherwise write it:
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

FLOPs (analytic; only the matmuls and convolutions, 2 FLOPs per multiply-add). Let the
classifier's Linear layers have M_l = n_in·n_out multiply-adds per sample (l = 1..L; M_1 is the
first one), the generator's layers (Linear or Conv2d, whose backward costs the same per layer
as a Linear's) MG_l, batch B, S = Σ M_l, SG = Σ MG_l:
  (a)  forward S, backward: weight grads S + input grads of layers 2..L (S − M_1)
       → 2B(3S − M_1)
  (b)  G forward SG; classifier forward S; first backward (create_graph) 2S − M_1 as in (a);
       second backward through the first one, per layer: v_W = δ_lᵀ h_{l−1} needs grads into
       h_{l−1} and δ_l (2M_l); δ_{l−1} = δ_l W_l (l ≥ 2) needs the grad into δ_l (M_l); the
       forward a_l = h_{l−1} W_lᵀ needs the grad into h_{l−1} (M_l; for l = 1 too, since x
       comes from G) → 4S − M_1; G backward: weight grads SG + input grads of layers 2..
       (SG − MG_1). Total → 2B(7S − 2M_1 + 3SG − MG_1).
  θ is frozen, so no grads into W_l are formed in the second backward (autograd prunes them).
  Both formulas are checked, each run, against torch.utils.flop_counter on the actual calls
  (which counts the zero taps of UpConv's phase convolution: see layer_macs; the efficiency
  counts only the multiply-adds the function needs).
  flop_efficiency = (FLOPs(b) / time(b)) / (rate of a 2048² float32 matmul, timed in the same
  run, interleaved, with the same thread count).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from gbc_teach.homogeneity import solve_lambda
from gbc_teach.losses import GBCObjective
from gbc_teach.margins import q as margin
from gbc_teach.models import MLP, Generator, UpConv

# ---------------------------------------------------------------- defaults (named constants)
# The MNIST experiment's defaults are gbc_teach.mnist.MnistConfig's (classifier 784-256-256-10
# with BN, Λ on the last layer, a conv generator, batch 200); these are the fallbacks of the
# scaling sweeps and the small gradient check, which need an MLP generator they can shrink.
MNIST_BN_MODE = "train"  # BN during the GBC step: training mode, batch statistics
MNIST_GENERATOR = dict(z_dim=32, n_classes=10, out_shape=(1, 28, 28), hidden=512, depth=2,
                       out="unit")
# The 2-D toy: bias-free MLP with a constant input feature; Λ 'uniform' as gbc_teach.toy uses.
TOY_CLASSIFIER = dict(d_in=2, widths=[100, 100], d_out=3, bias=False, const_feature=True)
TOY_LAMBDA = "uniform"
TOY_GENERATOR = dict(z_dim=2, n_classes=3, out_shape=2, hidden=128, out="box", box=2.5)
TOY_BATCH = 256
# Adam as gbc_teach.gbc.train_generator builds it (defaults lr=1e-3, lr_scalars=1e-2).
ADAM_LR, ADAM_LR_SCALARS = 1e-3, 1e-2
# Scaling sweeps (MNIST): batch at the default width, width (both hidden layers) at the default batch.
SCALING_BATCHES = (64, 128, 256, 512, 1024)
SCALING_WIDTHS = (128, 256, 512, 1024, 2048)
MATMUL_N = 2048
GRAD_RTOL = 1e-9  # float64 gradient check: max|g_b − g_c| ≤ GRAD_RTOL · max|g_c|
LAMBDA_SAMPLES = 64  # generated samples used to solve the Euler identity for Λ


def mnist_defaults():
    from gbc_teach.experiments.mnist_config import MnistConfig

    return MnistConfig()


def mnist_classifier(width: int | None = None) -> nn.Module:
    """The MNIST experiment's classifier (gbc_teach.mnist), hidden widths overridden if given."""
    from gbc_teach.experiments.image_nets import make_classifier

    cfg = mnist_defaults()
    return make_classifier(cfg if width is None else replace(cfg, width=width))


def mnist_generator() -> nn.Module:
    """The MNIST experiment's generator (gbc_teach.mnist: a conv trunk by default)."""
    from gbc_teach.experiments.image_nets import make_generator

    return make_generator(mnist_defaults())


# ---------------------------------------------------------------- analytic FLOPs
def layer_macs(model: nn.Module, executed: bool = False) -> list[int]:
    """Multiply-adds per sample of every nn.Linear, nn.Conv2d and UpConv, in forward order.

    An MLP needs no input; a generator with convolutions (whose cost depends on the feature-map
    size) is run once on a batch of 2 from its own training_batch, with hooks recording each
    layer's output shape. An UpConv (upsample + 3×3 conv on the small grid) needs 16·C_in·C_out
    per input pixel (one transposed convolution, kernel 4, stride 2); with few output channels it
    executes a 3×3 phase convolution into 4·C_out channels instead, 36·C_in·C_out, of which the
    extra 20 multiply by zero. executed=False counts what the function needs (the efficiency's
    numerator: zero taps earn nothing), executed=True what runs (torch's FLOP counter's view).
    """
    convs = (nn.Conv2d, UpConv)
    if not any(isinstance(m, convs) for m in model.modules()):
        return [m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    macs = []

    def hook(m, inputs, out):
        if isinstance(m, UpConv):
            _, H, W = inputs[0].shape[1:]
            taps = 36 if executed and m.conv.out_channels <= UpConv.PHASE_MAX_OUT else 16
            macs.append(H * W * taps * m.conv.out_channels * m.conv.in_channels)
            return
        per_out = m.in_features if isinstance(m, nn.Linear) else \
            m.in_channels // m.groups * math.prod(m.kernel_size)
        macs.append(out[0].numel() * per_out)

    upconv_inner = {id(m.conv) for m in model.modules() if isinstance(m, UpConv)}
    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, (nn.Linear, *convs)) and id(m) not in upconv_inner]
    try:
        with torch.no_grad():
            model.training_batch(2, torch.Generator().manual_seed(0))
    finally:
        for h in hooks:
            h.remove()
    return macs


def fwdbwd_flops(classifier: nn.Module, batch: int) -> int:
    """(a): 2B(3S − M_1), see the module docstring."""
    M = layer_macs(classifier)
    return 2 * batch * (3 * sum(M) - M[0])


def step_flops(classifier: nn.Module, G: nn.Module, batch: int, executed: bool = False) -> int:
    """(b): 2B(7S − 2M_1 + 3SG − MG_1), see the module docstring (executed: see layer_macs)."""
    M, MG = layer_macs(classifier), layer_macs(G, executed)
    return 2 * batch * (7 * sum(M) - 2 * M[0] + 3 * sum(MG) - MG[0])


# ---------------------------------------------------------------- the per-sample reference (c)
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


# ---------------------------------------------------------------- cases and steps
class Case:
    """A classifier, its Λ (LambdaResult), a generator, the batch size and the device."""

    def __init__(self, name: str, classifier: nn.Module, G: Generator, lam, batch: int,
                 n_classes: int, device: torch.device):
        self.name, self.classifier, self.G, self.lam = name, classifier, G, lam
        self.batch, self.n_classes, self.device = batch, n_classes, device

    def objective(self, cls=GBCObjective, classifier: nn.Module | None = None):
        clf = self.classifier if classifier is None else classifier
        return cls(clf, self.lam.Pi, self.lam.lam_max, self.n_classes).to(self.device)


def build_case(name: str, device="cpu", batch: int | None = None, width: int | None = None,
               seed: int = 0) -> Case:
    """'mnist' (width: both hidden layers) or 'toy', at the defaults above unless given."""
    device = torch.device(device)
    torch.manual_seed(seed)
    if name == "mnist":
        cfg = mnist_defaults()
        clf, G, choice = mnist_classifier(width), mnist_generator(), cfg.lam_choice
        batch, n_classes = batch or cfg.batch, 10
    elif name == "toy":
        clf, G, choice = MLP(**TOY_CLASSIFIER), Generator(**TOY_GENERATOR), TOY_LAMBDA
        batch, n_classes = batch or TOY_BATCH, TOY_GENERATOR["n_classes"]
    else:
        raise ValueError(f"case must be 'mnist' or 'toy', got {name!r}")
    clf, G = clf.to(device).train(), G.to(device)
    with torch.no_grad():
        x = G.training_batch(LAMBDA_SAMPLES, torch.Generator().manual_seed(seed))[0]
    lam = solve_lambda(clf, x, choice=choice)
    return Case(name, clf, G, lam, batch, n_classes, device)


def bn_to_eval(classifier: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy of the classifier in eval mode whose BN statistics are those of the batch x."""
    clf = copy.deepcopy(classifier)
    bns = [m for m in clf.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, the batch's statistics
    with torch.no_grad():
        clf.train()(x)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    return clf.eval()


def trained_params(G: nn.Module, objective: nn.Module) -> list[torch.Tensor]:
    return ([p for p in G.parameters() if p.requires_grad]
            + [p for p in objective.parameters(recurse=False) if p.requires_grad])


def make_adam(G: nn.Module, objective: nn.Module) -> torch.optim.Optimizer:
    """Adam with train_generator's two groups (G; the objective's scalars); fused where torch
    has a fused kernel for the device (math unchanged)."""
    groups = [{"params": [p for p in G.parameters() if p.requires_grad], "lr": ADAM_LR}]
    scalars = [p for p in objective.parameters(recurse=False) if p.requires_grad]
    if scalars:
        groups.append({"params": scalars, "lr": ADAM_LR_SCALARS})
    ps = [p for g in groups for p in g["params"]]
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in ps)
    return torch.optim.Adam(groups, fused=fused or None)


def make_gbc_step(G: nn.Module, objective: GBCObjective, batch: int, seed: int = 0):
    """(b) or (c) (by the objective's class): one train_generator iteration, as a closure."""
    gen = torch.Generator().manual_seed(seed)
    params = trained_params(G, objective)
    opt = make_adam(G, objective)
    with torch.no_grad():  # α and q_min from a first batch, outside the timed steps
        objective.init_scalars(*G.training_batch(batch, gen))

    def step():
        x, y, w = G.training_batch(batch, gen)
        out = objective(x, y, w)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward(inputs=params)
        opt.step()

    return step


def make_fwdbwd(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """(a): forward of the classifier on a fixed, detached batch and ∇_θ of the mean margin."""
    theta = [p for p in classifier.parameters()]
    for p in theta:
        p.requires_grad_(True)
    x = x.detach()

    def fwdbwd():
        torch.autograd.grad(margin(classifier(x), y).mean(), theta)

    return fwdbwd


def make_matmul(n: int, device, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    A, B = (torch.randn(n, n, generator=g).to(device, dtype) for _ in range(2))
    return lambda: A @ B


# ---------------------------------------------------------------- gradient check
@contextlib.contextmanager
def default_dtype(dtype):
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


# ---------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_once(f, reps: int, device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    _sync(device)
    return (time.perf_counter() - t0) / reps


def time_interleaved(fns: dict, trials: int, device, min_block_s: float = 0.02,
                     warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function; in each trial every function runs once
    (a block of reps ≥ min_block_s), one after the other. A fast function gets one untimed
    call before its block, so that it is not timed on caches the previous one has flushed."""
    reps, rewarm = {}, {}
    for name, f in fns.items():
        for _ in range(warmup - 1):
            f()
        t1 = max(_time_once(f, 1, device), 1e-6)
        reps[name], rewarm[name] = max(1, math.ceil(min_block_s / t1)), t1 < 0.05
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(trials):
        for name, f in fns.items():
            if rewarm[name]:
                f()
            times[name].append(_time_once(f, reps[name], device))
    return {n: statistics.median(v) for n, v in times.items()}


def counted_flops(f) -> int:
    """Matmul FLOPs of one call of f as torch.utils.flop_counter counts them (the cross-check
    of the analytic formulas: it sees every mm/addmm the autograd engine runs)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        f()
    return int(fc.get_total_flops())


def bench_case(case: Case, trials: int, per_sample: bool = True, matmul: bool = True) -> dict:
    """(a), (b), b_eval and (c) for one case, interleaved, plus the matmul rate."""
    dev = case.device
    with torch.no_grad():
        xa, ya, _ = case.G.training_batch(case.batch, torch.Generator().manual_seed(7))
    fns = {"a": make_fwdbwd(case.classifier, xa, ya),
           "b": make_gbc_step(case.G, case.objective(), case.batch)}
    if per_sample:
        clf_eval = bn_to_eval(case.classifier, xa)
        G_b, G_c = copy.deepcopy(case.G), copy.deepcopy(case.G)
        fns["b_eval"] = make_gbc_step(G_b, case.objective(GBCObjective, clf_eval), case.batch)
        fns["c"] = make_gbc_step(G_c, case.objective(PerSampleGBCObjective, clf_eval),
                                 case.batch)
    if matmul:
        fns["matmul"] = make_matmul(MATMUL_N, dev)
    fa, fb = fwdbwd_flops(case.classifier, case.batch), step_flops(case.classifier, case.G,
                                                                   case.batch)
    fb_run = step_flops(case.classifier, case.G, case.batch, executed=True)
    counted = (counted_flops(fns["a"]), counted_flops(fns["b"]))
    if counted != (fa, fb_run):
        raise RuntimeError(f"{case.name}: analytic FLOPs (a, b) = {(fa, fb_run)} but torch counts "
                           f"{counted}: the formulas no longer describe the step")
    t = time_interleaved(fns, trials, dev)
    out = {"case": case.name, "batch": case.batch,
           "widths": [m.out_features for m in case.classifier.modules()
                      if isinstance(m, nn.Linear)][:-1],
           "fwdbwd_ms": 1e3 * t["a"], "step_ms": 1e3 * t["b"],
           "ratio_step_to_fwdbwd": t["b"] / t["a"],
           "flops_fwdbwd": fa, "flops_step": fb, "flops_step_executed": fb_run,
           "flop_ratio_step_to_fwdbwd": fb / fa,
           "step_gflops": fb / t["b"] / 1e9}
    if per_sample:
        out.update({"step_bn_eval_ms": 1e3 * t["b_eval"], "per_sample_ms": 1e3 * t["c"],
                    "speedup_vs_per_sample": t["c"] / t["b"],
                    "speedup_vs_per_sample_same_bn_mode": t["c"] / t["b_eval"]})
    if matmul:
        rate = 2 * MATMUL_N ** 3 / t["matmul"]
        out.update({"matmul_gflops": rate / 1e9, "flop_efficiency": fb / t["b"] / rate})
    return out


def choose_threads(spec: str, device: torch.device) -> tuple[int, str]:
    """'auto' on CPU: time the default MNIST step at 1..n_cpu threads and keep the fastest
    (on a machine shared with other jobs, more threads than idle cores makes every small op
    wait at OpenMP barriers); an integer: that many."""
    n_cpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if spec != "auto":
        return int(spec), "given"
    if device.type != "cpu" or n_cpu <= 1:
        return max(1, n_cpu or 1), "all cores"
    case = build_case("mnist", device)
    step = make_gbc_step(case.G, case.objective(), case.batch)
    best = {}
    for n in range(1, n_cpu + 1):
        torch.set_num_threads(n)
        step()
        best[n] = statistics.median(_time_once(step, 1, device) for _ in range(5))
    n = min(best, key=best.get)
    return n, "auto: " + ", ".join(f"{k} thr {1e3 * v:.1f} ms" for k, v in best.items())


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)


def scaling(device, trials: int, batches=SCALING_BATCHES, widths=SCALING_WIDTHS) -> dict:
    """(a) and (b) times of the MNIST case against batch size and against classifier width."""
    rows = {"batch": [], "width": []}
    for kind, values in (("batch", batches), ("width", widths)):
        for v in values:
            case = (build_case("mnist", device, batch=v) if kind == "batch"
                    else build_case("mnist", device, width=v))
            r = bench_case(case, trials, per_sample=False, matmul=False)
            rows[kind].append({kind: v, **{k: r[k] for k in (
                "fwdbwd_ms", "step_ms", "ratio_step_to_fwdbwd", "flop_ratio_step_to_fwdbwd",
                "flops_step", "step_gflops")}})
    for kind in ("batch", "width"):  # log-log slope of the step time over the upper half of the sweep
        pts = rows[kind][len(rows[kind]) // 2:]
        xs = [math.log(p[kind]) for p in pts]
        ys = [math.log(p["step_ms"]) for p in pts]
        fs = [math.log(p["flops_step"]) for p in pts]
        rows[f"{kind}_loglog_slope"] = _slope(xs, ys)
        rows[f"{kind}_flops_loglog_slope"] = _slope(xs, fs)
    return rows


def plot_scaling(rows: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex="col")
    for j, kind in enumerate(("batch", "width")):
        pts = rows[kind]
        xs = [p[kind] for p in pts]
        ax = axes[0, j]
        ax.loglog(xs, [p["step_ms"] for p in pts], "o-", label="(b) GBC step")
        ax.loglog(xs, [p["fwdbwd_ms"] for p in pts], "s-", label="(a) classifier fwd+bwd")
        # FLOP-proportional reference through the last point of (b)
        f_last, t_last = pts[-1]["flops_step"], pts[-1]["step_ms"]
        ax.loglog(xs, [t_last * p["flops_step"] / f_last for p in pts], "k:",
                  label="∝ analytic FLOPs of (b)")
        ax.set_ylabel("ms per call")
        ax.set_title(f"step time vs {kind} (slope {rows[f'{kind}_loglog_slope']:.2f})")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax = axes[1, j]
        ax.semilogx(xs, [p["ratio_step_to_fwdbwd"] for p in pts], "o-", label="measured b/a")
        ax.semilogx(xs, [p["flop_ratio_step_to_fwdbwd"] for p in pts], "k:",
                    label="analytic FLOP ratio b/a")
        ax.set_xlabel("batch size" if kind == "batch" else "hidden width (both layers)")
        for a in axes[:, j]:
            a.set_xticks(xs, [str(x) for x in xs])
            a.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylabel("b / a")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- report
def table(res: dict) -> str:
    head = (f"{'case':6} {'B':>5} {'(a) fwd+bwd':>12} {'(b) step':>10} {'(c) per-sample':>15} "
            f"{'b/a':>6} {'FLOP b/a':>9} {'c/b':>7} {'GFLOP/s':>8} {'eff':>5}")
    lines = [head, "-" * len(head)]
    for r in res["cases"].values():
        c = f"{r['per_sample_ms']:.1f} ms" if "per_sample_ms" in r else "-"
        s = f"{r['speedup_vs_per_sample']:.1f}" if "speedup_vs_per_sample" in r else "-"
        lines.append(f"{r['case']:6} {r['batch']:>5} {r['fwdbwd_ms']:>9.2f} ms "
                     f"{r['step_ms']:>7.2f} ms {c:>15} {r['ratio_step_to_fwdbwd']:>6.2f} "
                     f"{r['flop_ratio_step_to_fwdbwd']:>9.2f} {s:>7} "
                     f"{r['step_gflops']:>8.1f} {r.get('flop_efficiency', float('nan')):>5.2f}")
    m = res["cases"].get("mnist", {})
    lines.append(f"dense {MATMUL_N}² float32 matmul: {m.get('matmul_gflops', float('nan')):.0f} "
                 f"GFLOP/s; device {res['device']}, torch {res['torch']}, "
                 f"threads {res['threads']} ({res['threads_reason']})")
    gc = res["gradient_check"]
    lines.append("gradient check (b vs c, float64): " + ", ".join(
        f"{g['case']} max rel err {g['max_rel_err']:.1e} {'ok' if g['ok'] else 'FAIL'}"
        for g in gc))
    if "scaling" in res:
        sc = res["scaling"]
        for kind in ("batch", "width"):
            lines.append(f"scaling vs {kind}: " + ", ".join(
                f"{p[kind]}: {p['step_ms']:.1f} ms (b/a {p['ratio_step_to_fwdbwd']:.2f})"
                for p in sc[kind]) + f"; log-log slope of the time {sc[f'{kind}_loglog_slope']:.2f}"
                f" (of the FLOPs {sc[f'{kind}_flops_loglog_slope']:.2f}) over the upper half")
    load = res.get("loadavg_1min_start_end")
    lines.append(f"wall time {res['wall_s']:.0f} s" + (
        f"; 1-min load average {load[0]:.1f} at start, {load[1]:.1f} at end" if load else ""))
    return "\n".join(lines)


def markdown(res: dict) -> str:
    """The Performance table, as markdown (for the README)."""
    rows = ["| case | batch | (a) fwd+bwd | (b) GBC step | (c) per-sample | b/a | FLOP b/a "
            "| c/b | GFLOP/s (b) | flop_efficiency |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["cases"].values():
        rows.append(f"| {r['case']} | {r['batch']} | {r['fwdbwd_ms']:.2f} ms | "
                    f"{r['step_ms']:.2f} ms | {r['per_sample_ms']:.1f} ms | "
                    f"{r['ratio_step_to_fwdbwd']:.2f} | {r['flop_ratio_step_to_fwdbwd']:.2f} | "
                    f"{r['speedup_vs_per_sample']:.1f} | {r['step_gflops']:.1f} | "
                    f"{r['flop_efficiency']:.2f} |")
    m = res["cases"]["mnist"]
    load = res.get("loadavg_1min_start_end")
    rows.append("")
    rows.append(f"Dense {MATMUL_N}² float32 matmul {m['matmul_gflops']:.0f} GFLOP/s; {res['device']}, "
                f"torch {res['torch']}, {res['threads']} thread(s) ({res['threads_reason']}); "
                f"wall time {res['wall_s']:.0f} s"
                + (f"; 1-min load average {load[0]:.1f}–{load[1]:.1f}." if load else "."))
    if "scaling" in res:
        sc = res["scaling"]
        rows += ["", "| scaling | " + " | ".join(str(p["batch"]) for p in sc["batch"]) + " |",
                 "|---|" + "---:|" * len(sc["batch"]),
                 "| batch: (b) ms | " + " | ".join(f"{p['step_ms']:.1f}" for p in sc["batch"])
                 + " |",
                 "| batch: b/a | " + " | ".join(f"{p['ratio_step_to_fwdbwd']:.2f}"
                                                for p in sc["batch"]) + " |",
                 "", "| scaling | " + " | ".join(str(p["width"]) for p in sc["width"]) + " |",
                 "|---|" + "---:|" * len(sc["width"]),
                 "| width: (b) ms | " + " | ".join(f"{p['step_ms']:.1f}" for p in sc["width"])
                 + " |",
                 "| width: b/a (FLOP b/a) | " + " | ".join(
                     f"{p['ratio_step_to_fwdbwd']:.2f} ({p['flop_ratio_step_to_fwdbwd']:.2f})"
                     for p in sc["width"]) + " |"]
    return "\n".join(rows)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON on stdout "
                    "(the table then goes to stderr)")
    ap.add_argument("--threads", default="auto", help="CPU threads: an integer or 'auto'")
    ap.add_argument("--trials", type=int, default=7, help="timed trials per case (medians)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling sweeps")
    ap.add_argument("--quick", action="store_true", help="3 trials, short sweeps (smoke test)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the generator's network (the classifier cannot be "
                         "compiled: the step differentiates through its backward)")
    ap.add_argument("--markdown", action="store_true",
                    help="also print the Performance table as markdown")
    ap.add_argument("--plot", default="outputs/bench_scaling.png")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA GPU")
    trials = 3 if args.quick else args.trials
    threads, reason = choose_threads(args.threads, device)
    torch.set_num_threads(threads)

    checks = [gradient_check("mnist"), gradient_check("toy", batch=32)]
    if not all(c["ok"] for c in checks):
        raise SystemExit(f"gradient check failed, not timing a wrong computation: {checks}")

    res = {"device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
           "torch": torch.__version__, "threads": threads, "threads_reason": reason,
           "compile": args.compile, "gradient_check": checks, "cases": {}}
    for name in ("mnist", "toy"):
        case = build_case(name, device)
        if args.compile:
            case.G.net.compile()  # in place; G only: see --compile's help
        res["cases"][name] = bench_case(case, trials)
    if not args.no_scaling:
        kw = dict(batches=SCALING_BATCHES[:4], widths=SCALING_WIDTHS[:4]) if args.quick else {}
        res["scaling"] = scaling(device, 3 if args.quick else max(5, trials - 2), **kw)
        plot_scaling(res["scaling"], Path(args.plot),
                     f"GBC step cost, MNIST MLP, {res['device']}, {threads} thread(s)")
        res["plot"] = args.plot
    res["wall_s"] = time.perf_counter() - t0
    if hasattr(os, "getloadavg"):  # other jobs on the machine: the numbers' conditions
        res["loadavg_1min_start_end"] = [load_start, os.getloadavg()[0]]
    print(table(res), file=sys.stderr if args.json else sys.stdout)
    if args.markdown:
        print("\n" + markdown(res), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
