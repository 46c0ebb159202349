"""Data-parallel generator training (gbc_teach.parallel): 2 gloo ranks on the CPU, each with half
of every batch, compute what one process computes with the whole batch.

Everything runs in float64, so the only differences are the order of the sums (one batch mean
against the mean of two half-batch means): losses and parameters after 20 Adam steps agree to
RTOL/ATOL below, and the two ranks agree bit for bit.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gbc_teach import parallel
from gbc_teach.baselines.naive import NaiveObjective
from gbc_teach.gbc import train_generator
from gbc_teach.losses import GBCObjective
from gbc_teach.models import MLP, Generator, RBFLift, batch_rows

WORLD, BATCH, STEPS = 2, 24, 20
RTOL, ATOL = 1e-9, 1e-12
CASES = {  # name: GBCObjective options (None: the naive baseline)
    "q_free": dict(stat_form="q", qmin_mode="free", alpha_mode="learned"),
    "pairs": dict(stat_form="pairs", qmin_mode="none", alpha_mode="closed"),
    "pairs_scale": dict(stat_form="pairs", qmin_mode="none", alpha_mode="closed",
                        scale_target=10.0, scale_weight=0.1),
    "naive": None,
}


def build(case: str):
    """A small toy classifier (RBF lift, relu², bias-free), its objective and a generator with
    2 codes a class (so class and code weights train too); fixed seeds, the same on every rank."""
    torch.manual_seed(0)
    clf = MLP(2, [16], 3, bias=False, const_feature=True, act="relu2", lift=RBFLift(4))
    opts = CASES[case]
    obj = (NaiveObjective(clf, 3) if opts is None else
           GBCObjective(clf, [True, True], 2.0, 3, class_weights=True, **opts))
    torch.manual_seed(1)
    G = Generator(2, 3, 2, hidden=16, depth=2, n_codes=2)
    return G, obj


def train(case: str) -> dict:
    G, obj = build(case)
    hist = train_generator(G, obj, steps=STEPS, batch=BATCH, lr=1e-2, log_every=1, seed=3,
                           progress=False, lr_final=0.1)
    return {"hist": hist, "G": {k: v.clone() for k, v in G.state_dict().items()},
            "obj": {k: v.clone() for k, v in obj.state_dict().items() if "classifier" not in k}}


def first_gradients(case: str, combine: str | None = None) -> dict:
    """The gradient of the first step's loss on G and the scalars; with ranks, combined by
    'mean' (what train_generator does) or 'sum'."""
    G, obj = build(case)
    r = parallel.ranks()
    batch = G.training_batch(BATCH, torch.Generator().manual_seed(5),
                             **({} if r is None else {"share": r.share()}))
    with parallel.reducing(obj, r):
        loss = obj(*batch)["loss"]
    named = [(f"G.{n}", p) for n, p in G.named_parameters() if p.requires_grad]
    named += [(n, p) for n, p in obj.named_parameters(recurse=False) if p.requires_grad]
    loss.backward(inputs=[p for _, p in named])
    if combine == "mean":
        r.average_gradients([p for _, p in named])
    elif combine == "sum":
        for _, p in named:
            if p.grad is not None:
                dist.all_reduce(p.grad)
    return {n: p.grad.clone() for n, p in named if p.grad is not None}


def _worker(rank: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        res = {case: train(case) for case in CASES}
        res["grad_mean"] = first_gradients("q_free", "mean")
        res["grad_sum"] = first_gradients("q_free", "sum")
        keep = parallel.mean_over_ranks
        parallel.mean_over_ranks = lambda t: t  # the all-reduce dropped: each rank alone
        try:
            res["no_reduce"] = train("q_free")
        finally:
            parallel.mean_over_ranks = keep
        torch.manual_seed(0)
        clf = MLP(2, [8], 3, bn=True)  # train-mode batch norm: refused
        try:
            train_generator(Generator(2, 3, 2), GBCObjective(clf, [True] * 5, 1.0, 3),
                            steps=1, batch=BATCH, progress=False)
            res["bn"] = "accepted"
        except ValueError as e:
            res["bn"] = str(e)
        torch.save(res, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(single process, [rank 0, rank 1]): every case, one spawn of two gloo ranks."""
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(tmp / "store"), str(tmp)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    with float64():
        single = {case: train(case) for case in CASES}
        single["grad"] = first_gradients("q_free")
    return single, ranks


def max_diff(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=RTOL, atol=ATOL, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize("case", list(CASES))
def test_two_ranks_compute_the_single_process_run(runs, case):
    single, ranks = runs
    one = single[case]
    for r in ranks:
        h1, h2 = one["hist"], r[case]["hist"]
        assert h1.keys() == h2.keys() and h1["step"] == h2["step"] == list(range(STEPS + 1))
        assert_close({k: torch.tensor(v) for k, v in h1.items()},
                     {k: torch.tensor(v) for k, v in h2.items()})
        assert_close(one["G"], r[case]["G"])
        assert_close(one["obj"], r[case]["obj"])
    # the ranks stay replicas of each other, bit for bit
    for k, v in ranks[0][case]["G"].items():
        assert torch.equal(v, ranks[1][case]["G"][k]), k
    assert ranks[0][case]["hist"] == ranks[1][case]["hist"]


def test_the_averaged_gradient_is_the_single_process_gradient(runs):
    # the loss is replicated and the all-reduce's backward sums its gradient over the ranks, so
    # the true gradient is the ranks' average; their sum is W times too large
    single, ranks = runs
    assert {"G.code_logits", "log_alpha", "log_qmin", "class_logits"} <= single["grad"].keys()
    for r in ranks:
        assert_close(single["grad"], r["grad_mean"])
        for k, g in r["grad_sum"].items():
            torch.testing.assert_close(g, WORLD * single["grad"][k], rtol=1e-9, atol=1e-12)


def test_without_the_all_reduce_the_runs_differ(runs):
    single, ranks = runs
    for r in ranks:
        loss_gap = max(abs(a - b) for a, b in zip(single["q_free"]["hist"]["loss"],
                                                  r["no_reduce"]["hist"]["loss"]))
        assert loss_gap > 1e-3
        assert max_diff(single["q_free"]["G"], r["no_reduce"]["G"]) > 1e-4


def test_train_mode_batch_norm_is_refused(runs):
    for r in runs[1]:
        assert "batch norm in training mode" in r["bn"]


def test_one_process_and_bad_splits():
    assert parallel.ranks() is None and parallel.world() == (0, 1) and parallel.is_main()
    with pytest.raises(RuntimeError, match="no torch.distributed process group"):
        parallel.ranks(True)
    assert batch_rows(24, (1, 2)) == slice(12, 24)
    with pytest.raises(ValueError, match="does not split evenly"):
        batch_rows(24, (0, 5))
    with pytest.raises(ValueError, match="has no `reduce`"):
        with parallel.reducing(torch.nn.Linear(1, 1), parallel.Ranks(0, 2)):
            pass
