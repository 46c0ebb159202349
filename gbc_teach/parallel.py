"""Data-parallel generator training over torch.distributed (README, "Several GPUs").

W processes (ranks) each hold the same generator G, the same objective scalars (α, q_min,
class weights) and the same frozen classifier. Each step every rank draws the whole batch's
z and labels from the common seeded generator and computes only its rows, r·B/W … (r+1)·B/W − 1:
exactly the samples one process would put there. Each batch mean of the objective is

    E[t] = (1/B) Σ_i t_i = (1/W) Σ_r m_r,   m_r = (W/B) Σ_{i in rank r} t_i  (rank r's own mean),

so `mean_over_ranks` all-reduces m_r (a SUM, divided by W) with an autograd-aware all-reduce
(`AllReduceSum`), so that gradients flow back to every rank's samples. Then every rank holds
the same v, L_stat and L_dual, and the loss is replicated.

Gradient bookkeeping. Let g be the gradient of the loss with respect to E[t]; the loss is
replicated, so g is the same on every rank. In one process m_r enters E[t] with weight 1/W and
receives g/W. Here the division by W hands g/W to the all-reduce, whose backward is again a SUM
all-reduce: it adds the W ranks' g/W, so m_r receives g, W times its share. Rank r's gradient of
G is therefore W times the part of the true gradient that its samples carry, while a parameter
that reaches the loss with no all-reduce in its path (α in L_stat) gets the whole, replicated
gradient on every rank. In both cases the true gradient is the *average* of the ranks'
gradients (their sum is W times too large), which `average_gradients` forms before each Adam
step, as DistributedDataParallel does. With Adam a factor W in every gradient is nearly
invisible (only its ε notices), so tests/test_parallel.py checks the gradient itself.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


def world() -> tuple[int, int]:
    """(rank, number of ranks) of the process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on rank 0, the one that prints and writes files (and in a plain process); before
    and after the process group, the launcher's RANK says."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def launched() -> bool:
    """True when torchrun (or another launcher) started this process as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(cuda: bool = False) -> bool:
    """Join the process group that torchrun's environment describes (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT, LOCAL_RANK): NCCL with one GPU per rank (cuda:LOCAL_RANK) when
    `cuda`, gloo on the CPU otherwise. Returns False, doing nothing, outside a launcher."""
    if not launched() or not dist.is_available():
        return False
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return True


@torch.no_grad()
def replicate(module: nn.Module) -> nn.Module:
    """Rank 0's parameters and buffers on every rank (a no-op in one process): one frozen
    classifier everywhere, even where GPU kernels round differently from run to run."""
    if world()[1] > 1:
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, 0)
    return module


def shutdown() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class AllReduceSum(torch.autograd.Function):
    """Σ_r t_r on every rank, differentiable: the backward is the same SUM of the upstream
    gradients (torch.distributed.nn.functional.all_reduce, deprecated in recent torch)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        out = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        # ∂(Σ_s t_s)/∂t_r = I on every rank s: rank r collects the gradient of all of them
        g = g.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(g)
        return g


def _flat(ts: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


def _unflat(flat: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    sizes = [t.numel() for t in like]
    return [f.view_as(t) for f, t in zip(flat.split(sizes), like)]


def mean_over_ranks(t):
    """(1/W) Σ_r t_r for a tensor or a list of tensors (one all-reduce for the list), differentiable.

    Applied to each rank's batch mean, it gives the mean over the whole batch."""
    _, size = world()
    if isinstance(t, (list, tuple)):  # v = E[∇_θ q]: one tensor per θ_k, one flat buffer
        return _unflat(AllReduceSum.apply(_flat(list(t))) / size, list(t))
    return AllReduceSum.apply(t) / size


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel run: rank r of W."""

    rank: int
    size: int

    def share(self) -> tuple[int, int]:
        """(r, W): the argument `training_batch(..., share=)` takes."""
        return self.rank, self.size

    def average_gradients(self, params: list[nn.Parameter]) -> None:
        """p.grad ← (1/W) Σ_r p.grad_r for every parameter that has one (one all-reduce)."""
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            flat = _flat(grads)
            dist.all_reduce(flat)
            for g, f in zip(grads, _unflat(flat / self.size, grads)):
                g.copy_(f)

    @torch.no_grad()
    def start(self, G: nn.Module, objective: nn.Module) -> None:
        """Rank 0's G and objective scalars on every rank (as DistributedDataParallel does);
        refuse a classifier that differs between ranks or couples the samples of a batch."""
        own = [*G.parameters(), *G.buffers(), *objective.parameters(recurse=False)]
        for t in own:
            dist.broadcast(t.data, 0)
        clf = getattr(objective, "classifier", None)
        for name, net in (("the generator", G), ("the classifier", clf)):
            if net is not None and any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
                                       for m in net.modules()):
                raise ValueError(f"{name} has batch norm in training mode: its batch statistics "
                                 "couple the samples of a batch, so the batch cannot be split "
                                 "over ranks (use eval-mode batch norm, or one process)")
        if clf is None:
            return
        theta = [t.detach() for t in [*clf.parameters(), *clf.buffers()] if t.is_floating_point()]
        if theta:  # the frozen θ is replicated: a silent difference would bias v
            mine = _flat(theta)
            ref = mine.clone()
            dist.broadcast(ref, 0)
            diff = (mine - ref).abs().max()
            dist.all_reduce(diff, op=dist.ReduceOp.MAX)
            if float(diff) > 0:
                raise ValueError(f"the frozen classifier differs between ranks (max |Δθ| = "
                                 f"{float(diff):.3g}): train it deterministically with one seed "
                                 "on every rank, or load one checkpoint everywhere")


def ranks(distributed: bool | None = None) -> Ranks | None:
    """Ranks of the run, or None for a single process.

    distributed: True requires an initialized process group; None uses one when it has
    several ranks; False never does."""
    rank, size = world()
    if distributed and not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("distributed=True but no torch.distributed process group is "
                           "initialized (start under torchrun, see parallel.init_from_env)")
    if distributed is False or size == 1:
        return None
    return Ranks(rank, size)


@contextlib.contextmanager
def reducing(objective: nn.Module, r: Ranks | None):
    """Within the block, the objective's batch means are means over the whole split batch."""
    if r is None:
        yield objective
        return
    if not hasattr(objective, "reduce"):
        raise ValueError(f"{type(objective).__name__} has no `reduce`: its batch means cannot "
                         "be split over ranks (GBCObjective and NaiveObjective can)")
    old = objective.reduce
    objective.reduce = mean_over_ranks
    try:
        yield objective
    finally:
        objective.reduce = old
