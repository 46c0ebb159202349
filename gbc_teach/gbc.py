"""Training a generator against a frozen classifier (docs/method.md §6; notebooks 01, 04, 05).

One loop serves GBC and every baseline: an objective module maps a batch of samples and its
labels to a dict of losses; the loop samples z, steps Adam on G (and on the objective's own
scalars), guards against NaN, and keeps a history. Under torch.distributed the same loop splits
every batch over the processes (`parallel`: each computes its rows, the batch means are
all-reduced, the gradients averaged), and computes what one process computes with the whole batch.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from tqdm.auto import tqdm

from . import parallel
from .models import surrogate_relu
from .training import NonFiniteError


def balanced_labels(n: int, n_classes: int, device=None) -> torch.Tensor:
    """Labels 0..C−1 repeated: every class equally often in every batch."""
    return (torch.arange(n, device=device) % n_classes)


def train_generator(G: nn.Module, objective: nn.Module, steps: int = 2000, batch: int = 256,
                    lr: float = 1e-3, lr_scalars: float = 1e-2, surrogate_a: float | None = None,
                    log_every: int = 50, seed: int = 0, progress: bool = True,
                    desc: str = "generator", lr_final: float = 1.0,
                    distributed: bool | None = None, callback=None,
                    keep_best: bool = False) -> dict:
    """Adam on G and the objective's scalars; returns the history of every scalar loss term.

    surrogate_a: if set, the frozen classifier's ReLUs back-propagate sigmoid(a·x) (docs/method.md §7).
    On a NaN or inf loss, G and the scalars are restored to the last logged state and
    NonFiniteError is raised. lr_final < 1: cosine decay of every learning rate to lr·lr_final.
    distributed: split each batch over the ranks of the torch.distributed process group (None:
    whenever one with several ranks is initialized); every rank returns the same history, and
    only rank 0 shows progress. callback(step, G, values), if given, runs at every log step
    (values: the logged scalars), e.g. to score G against known answers while it trains.
    keep_best: end with G and the scalars of the logged step with the lowest loss (a selection
    by the objective alone, like restarts kept by their final L_stat); hist["kept_step"] says which.
    """
    dp = parallel.ranks(distributed)  # None: one process, the whole batch here
    gen = torch.Generator(device="cpu").manual_seed(seed)
    scalars = [p for p in objective.parameters(recurse=False) if p.requires_grad]
    groups = [{"params": [p for p in G.parameters() if p.requires_grad], "lr": lr}]
    if scalars:
        groups.append({"params": scalars, "lr": lr_scalars})
    # fused: one kernel for Adam's updates of every tensor (same math, rounding aside);
    # the default per-tensor Python loop costs ~4x more per step on CPU
    params = [p for g in groups for p in g["params"]]
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    opt = torch.optim.Adam(groups, fused=fused or None)
    # cosine from 1 to lr_final over the run: move far first, then settle on the atoms
    span = max(steps, 1)  # steps = 0: only the start is logged
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: lr_final + (1 - lr_final) * 0.5 * (1 + math.cos(math.pi * min(t, span) / span)))
    hist: dict[str, list] = {"step": []}
    if dp is not None:
        dp.start(G, objective)  # rank 0's G and scalars everywhere; the classifier checked
    good = (copy.deepcopy(G.state_dict()), copy.deepcopy(objective.state_dict()), 0)
    classifier = getattr(objective, "classifier", G)
    best = None  # keep_best: (G's state, the scalars' state, step, loss)
    bar = tqdm(range(steps + 1), desc=desc, disable=not (progress and parallel.is_main()),
               leave=False)
    with torch.no_grad():  # calibration batch for the relative surrogate slope
        x_cal = G.training_batch(batch, gen)[0]
    with surrogate_relu(classifier, surrogate_a, calib_x=x_cal), parallel.reducing(objective, dp):
        for step in bar:
            # with several ranks, this rank's rows of the batch (all of z drawn, as in one process)
            x, y, w = (G.training_batch(batch, gen) if dp is None else
                       G.training_batch(batch, gen, share=dp.share()))
            out = objective(x, y, w)
            loss = out["loss"]
            if step % log_every == 0 or step == steps:
                # the only host syncs of the loop: every log_every steps
                vals = {k: float(v.detach()) for k, v in out.items() if v.dim() == 0}
                if not all(math.isfinite(v) for v in vals.values()):
                    G.load_state_dict(good[0])
                    objective.load_state_dict(good[1])
                    raise NonFiniteError(f"{desc}: a loss became non-finite at step {step} "
                                         f"({vals}); restored the state of step {good[2]}")
                good = (copy.deepcopy(G.state_dict()), copy.deepcopy(objective.state_dict()), step)
                if keep_best and (best is None or vals["loss"] < best[3]):
                    best = (*good, vals["loss"])
                hist["step"].append(step)
                for k, v in vals.items():
                    hist.setdefault(k, []).append(v)
                bar.set_postfix({k: f"{v:.3g}" for k, v in list(vals.items())[:3]})
                if callback is not None:
                    callback(step, G, vals)
            if step == steps:
                break
            opt.zero_grad(set_to_none=True)
            loss.backward(inputs=params)
            if dp is not None:  # the true gradient is the ranks' average (parallel.py)
                dp.average_gradients(params)
            opt.step()
            sched.step()
            if hasattr(G, "project"):  # e.g. particles: back into the image domain
                G.project()
    if best is not None:
        G.load_state_dict(best[0])
        objective.load_state_dict(best[1])
        hist["kept_step"] = best[2]
    return hist


def kept_index(hist: dict) -> int:
    """The index into `train_generator`'s history of the state G ended on: the kept step with
    keep_best, else the last logged one."""
    return hist["step"].index(hist.get("kept_step", hist["step"][-1]))


def fit_codes(G: nn.Module, atoms: torch.Tensor, weights: torch.Tensor, steps: int = 600,
              lr: float = 3e-3, batch: int = 256, seed: int = 0) -> float:
    """Start a generator with discrete codes on given atoms: G(z, y, c) ≈ atoms[y, c] for every z.

    A warm start for `train_generator` (e.g. from `kkt.dictionary_atoms`): least squares
    E_z ‖G(z, y, c) − atoms[y, c]‖² over the trunk, and π(c | y) ∝ weights[y, c]. Returns the
    final root-mean-square distance of the outputs to their atoms.
    """
    C, K = G.n_classes, G.n_codes
    if atoms.shape[:2] != (C, K) or weights.shape != (C, K):
        raise ValueError(f"atoms {tuple(atoms.shape)} and weights {tuple(weights.shape)} must "
                         f"start with (n_classes, n_codes) = ({C}, {K})")
    with torch.no_grad():  # log π(c | y) = log(weights / Σ_c weights), floored at 10⁻⁴
        pi = weights / weights.sum(1, keepdim=True)
        G.code_logits.copy_(pi.clamp_min(1e-4).log())
    dev = G.code_logits.device
    rows = torch.arange(max(batch, C * K), device=dev)  # every (class, code) pair in each batch
    y, c = rows % C, (rows // C) % K
    target = atoms.to(dev)[y, c].flatten(1)

    def loss_of(gen):  # E_z ‖G(z, y, c) − atoms[y, c]‖² over a batch
        z = torch.randn(len(rows), G.z_dim, generator=gen).to(dev)
        return (G(z, y, c).flatten(1) - target).pow(2).sum(1).mean()

    return adam_fit(G.net.parameters(), loss_of, steps, lr, seed) ** 0.5


def adam_fit(params, loss_of, steps: int, lr: float, seed: int = 0) -> float:
    """`steps` Adam steps on params for the loss `loss_of(gen)` (gen: a seeded torch.Generator
    for its noise); returns the loss after the last step."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(steps + 1):
        loss = loss_of(gen)
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss.detach())
