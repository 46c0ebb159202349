"""The MNIST experiment of the paper (docs/method.md §6–9; notebooks 05, 06): `gbc-teach mnist`.

One frozen classifier (the paper's: 3 fully connected layers, ReLU, batch norm, 500 training
images, 50 a class) → Λ (last layer) → a conditional generator trained only from it by the KKT
losses → samples judged by an independent evaluator against held-out real images. Baselines on
the same classifier: naive (margin only) and BN-statistics matching. `run_mnist_multi`: one
generator G(z, y, k) born from two classifiers, digits 0–4 and 5–9.

Data (disjoint index sets of whichever split is present, all recorded in metrics.json):
train (the classifier's 500), pool_a (the `real` row), pool_b (the recovery reference),
pool_c (the Fréchet reference), evaluator (its training images); test accuracy is measured
on every image outside train.

Batch norm: the classifier is trained full-batch in training mode, so its KKT conditions are
those of the training-mode function (the GBC objective sees batch statistics of the generated
batch, running statistics frozen); the baselines use the deployed, eval-mode classifier.
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

FALLBACK_BANNER = ("WARNING: NO MNIST FOUND — these results use scikit-learn's bundled 8x8 "
                   "digits upsampled to 28x28, NOT MNIST. Run `gbc-teach data download mnist` "
                   "or set GBC_DATA_DIR.")


@dataclass
class MnistConfig:
    """Defaults of `gbc-teach mnist` on CPU (minutes); `paper()` is the GPU profile."""

    n_per_class: int = 50  # the paper: 500 training images, 50 a class
    n_pool: int = 500  # each real pool (real row, recovery reference, Fréchet reference)
    n_eval_images: int = 6000  # the evaluator's training images
    eval_epochs: int = 8
    # classifier: 784 → width → width → 10, Linear → BN → ReLU, Kaiming init
    width: int = 256
    act: str = "relu"  # 'relu2' (smooth, homogeneous) reaches KKT points more closely
    bn: bool = True  # False: Haim et al.'s bias-free homogeneous MLP (with bias=False, 'uniform' Λ)
    bias: bool = True
    first_bias: bool = False  # with bias=False: a bias in the first layer only (fixes image scale)
    clf_steps: int = 600  # 'weight_decay': the Adam steps before L-BFGS
    clf_rule: str = "relative"  # fraction of ‖θ‖ along −∇log L; or 'weight_decay' (Adam, L-BFGS)
    clf_lr: float = 0.03
    clf_lr_final: float = 0.1
    wd: float = 5e-4  # 'weight_decay': the weight of (wd/2)‖θ‖²
    wd_lr: float = 1e-3  # 'weight_decay': Adam's step
    clf_lbfgs: int = 500  # 'weight_decay': L-BFGS iterations after Adam
    lam_choice: str = "last_layer"  # Λ scaling the last layer only (Kunin et al.)
    kkt_pairs: bool = False  # one constraint per image (True: per wrong class, 9× the memory)
    kkt_chunk: int = 8  # constraint gradients per batched backward (memory ∝ chunk)
    # generator: G(z, y, c) with K codes, sigmoid output in [0, 1]
    z_dim: int = 32
    n_codes: int = 10
    hidden: int = 512
    depth: int = 2
    batch: int = 200
    gen_steps: int = 1000  # seed 0: 1000 → 0.68, 2000 → 0.44 evaluator accuracy (lr 1e-2)
    gen_lr: float = 1e-2  # GBC; ablation at 1000 steps: 1e-3 → 0.42, 3e-3 → 0.54, 1e-2 → 0.68 acc
    gen_lr_final: float = 0.05
    qmin_mode: str = "free"
    alpha_mode: str = "closed"
    beta: float = 1.0
    kappa: float = 1.0
    class_weights: bool = True
    surrogate_a: float | None = None
    anchor_std: float = 0.0  # > 0: a learnable image anchor per (class, code), random at start
    gen_arch: str = "conv"  # 'conv': fc → 7×7 → upsample-conv ×2 (a smoothness prior)
    gen_channels: int = 32
    out_bias: float | None = None  # initial output bias: −3 starts from near-black canvases
    stat_form: str = "q"  # 'pairs': E[∇ log p_y], every wrong class (losses.GBCObjective)
    stat_tensors: str = "all"  # 'Pi': stationarity on Π tensors only (drops 0 = E[∇q] elsewhere)
    gbc_bn_mode: str = "train"  # BN inside the GBC loss: 'train' (batch stats) or 'eval'
    gauge: str = "stretch"  # GBC samples: 'stretch' the set's intensity range to [0, 1] (below)
    # baselines
    naive_steps: int = 500
    bnstat_steps: int = 1000
    baseline_lr: float = 3e-3  # naive and BN-stat generators (BN-stat: 1e-3 → 0.12, 3e-3 → 0.91)
    r_bn: float = 10.0  # BN-stat weight (1 → 0.91, 10 → 0.94 evaluator accuracy at 1000 steps)
    particle_steps: int = 0  # > 0: the free-particle reconstruction too (particles.Particles)
    particle_lr: float = 0.05
    particle_mult: int = 1  # particles per training image (the count is the classifier's n)
    judges: bool = True  # a second evaluator and train-on-synthetic/test-on-real accuracy
    n_samples: int | None = None  # generated images per method (None: n_pool, as the metrics ask)
    device: str = "cpu"
    threads: int = 1  # CPU threads; 2 threads on a busy 2-core machine run 4× slower than 1

    @classmethod
    def fast(cls, **kw) -> "MnistConfig":
        """The CI / smoke profile: same pipeline, tiny sizes (seconds to a minute)."""
        base = dict(n_per_class=10, n_pool=100, n_eval_images=1000, eval_epochs=2, width=64,
                    clf_steps=100, hidden=128, gen_channels=16, batch=100, gen_steps=60,
                    naive_steps=30, bnstat_steps=30)
        base.update(kw)
        return cls(**base)

    @classmethod
    def recovery(cls, fast: bool = False, **kw) -> "MnistConfig":
        """The regime where the classifier gives its training images back (`gbc-teach mnist`):
        a smooth MLP with a first-layer bias trained with weight decay to its stationary point
        (the KKT form with known multipliers), GBC with the matching 'pairs' stationarity and
        one code per training image, and free particles beside it (notebook 05b)."""
        base = dict(n_per_class=1, act="softplus", bn=False, bias=False, first_bias=True,
                    clf_rule="weight_decay", clf_steps=2000, kkt_pairs=True, z_dim=8,
                    n_codes=1, gen_steps=3000, qmin_mode="none", alpha_mode="closed",
                    stat_form="pairs", class_weights=False, gauge="none", particle_steps=3000)
        if fast:
            base.update(n_pool=100, n_eval_images=1000, eval_epochs=2, width=64, clf_steps=200,
                        clf_lbfgs=50, hidden=128, gen_channels=16, batch=100, gen_steps=60,
                        naive_steps=30, particle_steps=60)
        base.update(kw)
        return cls(**base)

    @classmethod
    def paper(cls, **kw) -> "MnistConfig":
        """Paper scale, for a GPU (`--device cuda --paper`): 784-512-512-10, 3,000 classifier
        steps, a larger generator trained longer on bigger batches. Measured on an H100 (seed 0,
        322 s): GBC evaluator accuracy 0.168, below the defaults' ~0.6 — 20,000 generator steps
        collapse the samples (FINDINGS.md §5)."""
        base = dict(width=512, clf_steps=3000, eval_epochs=16, gen_channels=128, batch=500,
                    gen_steps=20000, naive_steps=3000, bnstat_steps=5000, device="cuda",
                    threads=4)
        base.update(kw)
        return cls(**base)


# --------------------------------------------------------------------------------------- data
def mnist_split(labels: np.ndarray, cfg: MnistConfig, seed: int) -> tuple[dict, MnistConfig]:
    """Disjoint index sets train / pool_a / pool_b / pool_c / evaluator, sizes shrunk to fit.

    Returns (split, cfg) with cfg's sizes the ones actually used (small data sets such as the
    sklearn fallback cannot hold 500 + 3×500 + 6000 images).
    """
    from .data import _take_balanced, paper_split

    n_classes = len(np.unique(labels))
    N = len(labels)
    per = cfg.n_per_class
    counts = np.bincount(labels)
    # four sets of n_per_class·C images (train and three pools) must leave ≥ 1/3 for the evaluator
    per = int(min(per, counts.min() // 5, (2 * N / 3) // (4 * n_classes)))
    pool = min(cfg.n_pool, per * n_classes) if per < cfg.n_per_class else cfg.n_pool
    n_eval = min(cfg.n_eval_images, N - per * n_classes - 3 * pool)
    cfg = replace(cfg, n_per_class=per, n_pool=pool, n_eval_images=n_eval)
    split = paper_split(labels, n_per_class=per, n_pool=pool, n_eval=None, seed=seed)
    rng = np.random.default_rng(seed + 1)
    free = np.ones(N, dtype=bool)
    for k in ("train", "pool_a", "pool_b"):
        free[split[k]] = False
    split["pool_c"] = _take_balanced(rng, labels, free, pool)
    free[split["pool_c"]] = False
    rest = rng.permutation(np.flatnonzero(free))
    split["evaluator"] = np.sort(rest[:n_eval]).astype(np.int64)
    return split, cfg


def load_data(data_dir=None, quiet: bool = False):
    """MNIST if present anywhere (see data.load_mnist), else the flagged sklearn fallback."""
    import warnings

    from .data import load_mnist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if quiet else "default")
        data = load_mnist(data_dir)
    if data.split == "sklearn-digits-fallback":
        print("\n" + "!" * 100 + "\n" + FALLBACK_BANNER + "\n" + "!" * 100 + "\n", file=sys.stderr)
    return data


# --------------------------------------------------------------------------------- classifier
def make_classifier(cfg: MnistConfig, n_classes: int = 10) -> nn.Module:
    from .models import MLP

    bias = "first" if cfg.first_bias and not cfg.bias else cfg.bias
    return MLP(784, [cfg.width, cfg.width], n_classes, bn=cfg.bn, bias=bias, act=cfg.act)


def architecture(cfg: MnistConfig) -> str:
    """e.g. '784-256-256-10, Linear-BN-relu' or '784-256-256-10, Linear-relu, no biases'."""
    layer = "-".join(["Linear"] + (["BN"] * cfg.bn) + [cfg.act])
    biases = "" if cfg.bias else ", first-layer bias only" if cfg.first_bias else ", no biases"
    return f"784-{cfg.width}-{cfg.width}-10, {layer}" + biases


def train_mnist_classifier(X, y, cfg: MnistConfig, n_classes: int = 10, progress=False):
    """The paper's classifier trained full-batch, training-mode BN; returns (model, Λ, history).

    clf_rule='weight_decay': Adam then L-BFGS on CE + (wd/2)‖θ‖²; Π is every tensor."""
    from .homogeneity import every_tensor, solve_lambda
    from .training import train_classifier, train_weight_decay

    model = make_classifier(cfg, n_classes).to(X.device)
    if cfg.clf_rule == "weight_decay":
        hist = train_weight_decay(model, X, y, wd=cfg.wd, adam_steps=cfg.clf_steps, lr=cfg.wd_lr,
                                  lbfgs_iters=cfg.clf_lbfgs, progress=progress,
                                  log_every=max(cfg.clf_steps // 20, 1))
        return model, every_tensor(model), hist
    lam = solve_lambda(model.cpu(), X[:64].cpu(), cfg.lam_choice)
    model.to(X.device)
    hist = train_classifier(model, X, y, steps=cfg.clf_steps, lr=cfg.clf_lr, rule=cfg.clf_rule,
                            lr_final=cfg.clf_lr_final, lam=lam.lam, lam_max=lam.lam_max,
                            progress=progress, log_every=max(cfg.clf_steps // 20, 1))
    return model, lam, hist


def frozen_copy(model: nn.Module, mode: str) -> nn.Module:
    """A copy in 'train' mode (batch statistics, running statistics frozen) or 'eval' mode."""
    m = copy.deepcopy(model)
    if mode == "eval":
        return m.eval()
    m.train()
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.momentum = 0.0  # running = (1 − 0)·running + 0·batch: never updated
    return m


@torch.no_grad()
def accuracy(model: nn.Module, X, y, batch: int = 1000) -> float:
    model = frozen_copy(model, "eval")
    pred = torch.cat([model(X[i:i + batch]).argmax(1) for i in range(0, len(X), batch)])
    return float((pred.cpu() == y.cpu()).float().mean())


# --------------------------------------------------------------------------------- generators
def conv_trunk(d_in: int, ch: int = 64) -> nn.Module:
    """(N, d_in) → (N, 784) pre-activations: fc → (ch, 7, 7) → ×2 up, conv → ×2 up, conv.

    Each "×2 nearest upsample, 3×3 conv" is a models.UpConv: the same function computed on the
    small grid (2.25× fewer multiply-adds; tests/test_models.py checks the equivalence).
    """
    from .models import UpConv

    return nn.Sequential(
        nn.Linear(d_in, ch * 49), nn.LeakyReLU(0.2), nn.Unflatten(1, (ch, 7, 7)),
        UpConv(ch, ch // 2), nn.LeakyReLU(0.2),
        UpConv(ch // 2, 1),  # (N, 1, 28, 28)
        nn.Flatten())


def make_generator(cfg: MnistConfig, n_classes: int = 10, n_classifiers: int = 1):
    from .models import Generator

    G = Generator(cfg.z_dim, n_classes, (1, 28, 28), hidden=cfg.hidden, depth=cfg.depth,
                  out="unit", n_classifiers=n_classifiers, n_codes=cfg.n_codes,
                  anchor_std=cfg.anchor_std)
    if cfg.gen_arch == "conv":
        G.net = conv_trunk(G.net[0].in_features, cfg.gen_channels)
    elif cfg.gen_arch != "mlp":
        raise ValueError(f"gen_arch must be 'mlp' or 'conv', got {cfg.gen_arch!r}")
    if cfg.out_bias is not None:  # sigmoid(out_bias) is the starting pixel value
        with torch.no_grad():
            [m for m in G.net if hasattr(m, "bias")][-1].bias.fill_(cfg.out_bias)
    return G


def gbc_objective(model, lam, cfg: MnistConfig, n_classes: int):
    from .losses import GBCObjective

    obj = GBCObjective(frozen_copy(model, cfg.gbc_bn_mode), lam.Pi, lam.lam_max, n_classes,
                       qmin_mode=cfg.qmin_mode, beta=cfg.beta, kappa=cfg.kappa,
                       class_weights=cfg.class_weights, alpha_mode=cfg.alpha_mode,
                       stat_form=cfg.stat_form)
    if cfg.stat_tensors == "Pi":  # v = E[∇_{Πθ} q] only: the Π rows of Πθ = α E[∇q]
        keep = [bool(m) for m in lam.Pi]
        obj.theta = [p for p, k in zip(obj.theta, keep) if k]
        obj.t = [t for t, k in zip(obj.t, keep) if k]
        obj.t_blocks = list(range(len(obj.t)))
    elif cfg.stat_tensors != "all":
        raise ValueError(f"stat_tensors must be 'all' or 'Pi', got {cfg.stat_tensors!r}")
    return obj


def L_stat_of(model, lam, cfg: MnistConfig, X, y, n_classes: int = 10) -> float:
    """L_stat of the GBC objective on given labelled images, uniform weights, best α."""
    obj = gbc_objective(model, lam, replace(cfg, class_weights=False, alpha_mode="closed"),
                        n_classes)
    return float(obj(X, y)["L_stat"].detach())


def stretch(x: torch.Tensor, lo: float = 0.01, hi: float = 0.99) -> torch.Tensor:
    """Map the set's lo and hi intensity quantiles to 0 and 1 (clamped): one affine map for all.

    A training-mode BN classifier cannot tell a batch x from c·x + g (c > 0): its first BN
    removes every per-feature shift and scale of W₁x. So the GBC losses fix GBC samples only up
    to this map, and we pick the member that uses the image range.
    """
    v = x.flatten()
    if v.numel() > 2**24:
        v = v[torch.randperm(v.numel(), generator=torch.Generator().manual_seed(0))[:2**24]]
    a, b = torch.quantile(v, torch.tensor([lo, hi], dtype=v.dtype)).tolist()
    return ((x - a) / max(b - a, 1e-6)).clamp(0, 1)


@torch.no_grad()
def draw(G, n: int, n_classes: int, seed: int, k: int | None = None):
    """n samples, labels evenly spread, as (x (n, 1, 28, 28) on CPU, y (n,))."""
    g = torch.Generator().manual_seed(seed)
    G.eval()
    y = torch.arange(n) % n_classes
    kk = None if k is None else torch.full((n,), k)
    x, y = G.sample(n, y=y, k=kk, generator=g)
    return x.cpu(), y.cpu()


class MultiGenerator(nn.Module):
    """G(z, y, k) for K classifiers of C local classes each; global label = k·C + y.

    `training_batch` draws an even batch over all K·C labels, so `gbc.train_generator` runs it.
    """

    def __init__(self, G, n_local: int, n_classifiers: int):
        super().__init__()
        self.G, self.n_local, self.K = G, n_local, n_classifiers
        self.code_logits = G.code_logits  # train_generator reads the device from here

    def training_batch(self, n: int, generator=None):
        dev = self.code_logits.device
        y_glob = torch.arange(n, device=dev) % (self.n_local * self.K)
        k, y = y_glob // self.n_local, y_glob % self.n_local
        c = (torch.arange(n, device=dev) // (self.n_local * self.K)) % self.G.n_codes
        z = torch.randn(n, self.G.z_dim, generator=generator).to(dev)
        w = self.G.code_weights(y, c) if self.G.n_codes > 1 else None
        return self.G(z, y, c, k), y_glob, w

    @torch.no_grad()
    def sample(self, n: int, generator=None):
        """n samples over all global labels evenly, codes from π; returns (x, y_glob)."""
        y_glob = torch.arange(n) % (self.n_local * self.K)
        k, y = y_glob // self.n_local, y_glob % self.n_local
        x, _ = self.G.sample(n, y=y, k=k, generator=generator)
        return x, y_glob.to(x.device)


class MultiObjective(nn.Module):
    """Σ_k L^(k): each classifier's GBC loss on the samples of its own digits (local labels)."""

    def __init__(self, objectives: list[nn.Module], n_local: int):
        super().__init__()
        self.objs, self.n_local = nn.ModuleList(objectives), n_local

    def forward(self, x, y, w=None):
        out, total = {}, 0.0
        for k, obj in enumerate(self.objs):
            m = (y // self.n_local) == k
            r = obj(x[m], y[m] - k * self.n_local, None if w is None else w[m])
            total = total + r["loss"]
            out.update({f"{key}_{k}": v for key, v in r.items() if v.dim() == 0})
        out["loss"] = total
        return out


# -------------------------------------------------------------------------------------- metrics
def image_metrics(x, y, train_x, train_y, ref, fref_feats, ev, judges=None) -> dict:
    """The docs/method.md §8 row of one image set: evaluator accuracy, recovery (SSIM, L2), Fréchet,
    diversity. ref = (images, labels) of the recovery reference pool; fref_feats: evaluator
    features of the Fréchet reference pool; judges = (second evaluator, real test images,
    their labels) adds the second evaluator's accuracy and train-on-synthetic/test-on-real."""
    from .evaluator import evaluator_accuracy, evaluator_features
    from .image_metrics import diversity, frechet_distance, recovery

    rs = recovery(train_x, train_y, x, y, ref[0], ref[1], metric="ssim")
    rl = recovery(train_x, train_y, x, y, ref[0], ref[1], metric="l2")
    return {"n": int(len(x)),
            "evaluator_accuracy": evaluator_accuracy(ev, x, y),
            "ssim_recovery_share": rs["share"], "ssim_recovery_mean": rs["mean"],
            "ssim_reference_mean": rs["ref_mean"],
            "l2_recovery_share": rl["share"], "l2_recovery_mean": rl["mean"],
            "frechet": frechet_distance(evaluator_features(ev, x), fref_feats),
            # a set with one image a class (particles at n = 10) has no within-class spread
            "diversity": diversity(x, y) if np.bincount(np.asarray(y)).max() > 1 else None,
            **({} if judges is None else judge_row(x, y, *judges))}


def judge_row(x, y, ev2, test_x, test_y) -> dict:
    from .evaluator import evaluator_accuracy
    from .judges import tstr_accuracy

    return {"second_evaluator_accuracy": evaluator_accuracy(ev2, x, y),
            "tstr_accuracy": tstr_accuracy(x, y, test_x, test_y)}


def _setup(seed, cfg, data_dir, progress):
    from .data import split_as_json, to_float_images
    from .evaluator import evaluator_features, load_or_train_evaluator
    from .utils import get_device, seed_everything

    torch.set_num_threads(max(1, cfg.threads))
    torch.set_flush_denormal(True)  # double backprop makes denormals, 10-100× slower on CPU
    dev = get_device(cfg.device)
    data = load_data(data_dir, quiet=not progress)
    split, cfg = mnist_split(data.labels, cfg, seed)
    imgs = {k: to_float_images(data.images[v]) for k, v in split.items()}
    labs = {k: torch.from_numpy(data.labels[v]) for k, v in split.items()}
    seed_everything(seed)
    ev = load_or_train_evaluator(imgs["evaluator"], labs["evaluator"], device=dev,
                                 progress=progress, epochs=cfg.eval_epochs, seed=0)
    test_idx = np.setdiff1d(np.arange(len(data.labels)), split["train"])
    info = {"split": data.split, "source": data.source,
            "fallback": data.split == "sklearn-digits-fallback",
            "sizes": {k: int(len(v)) for k, v in split.items()},
            "indices": split_as_json(split)}
    if info["fallback"]:
        info["warning"] = FALLBACK_BANNER
    judges = None
    if cfg.judges:  # trained on the evaluator's images; TSTR tested on them too (never generated)
        from .judges import train_second_evaluator

        ev2 = train_second_evaluator(imgs["evaluator"], labs["evaluator"], progress=progress)
        judges = (ev2, imgs["evaluator"][:3000], labs["evaluator"][:3000])
    return {"data": data, "split": split, "cfg": cfg, "imgs": imgs, "labs": labs, "ev": ev,
            "judges": judges,
            "dev": dev, "test_x": to_float_images(data.images[test_idx]),
            "test_y": torch.from_numpy(data.labels[test_idx]), "info": info,
            "fref": evaluator_features(ev, imgs["pool_c"])}


def _raw_row(x, y, s) -> dict:
    """Evaluator accuracy and Fréchet of GBC samples before the gauge stretch."""
    from .evaluator import evaluator_accuracy, evaluator_features
    from .image_metrics import frechet_distance

    return {"evaluator_accuracy_unstretched": evaluator_accuracy(s["ev"], x, y),
            "frechet_unstretched": frechet_distance(evaluator_features(s["ev"], x), s["fref"])}


def _evaluator_row(s) -> dict:
    from .evaluator import evaluator_accuracy

    return {"accuracy_on_pool_c": evaluator_accuracy(s["ev"], s["imgs"]["pool_c"],
                                                     s["labs"]["pool_c"]),
            "n_train": s["info"]["sizes"]["evaluator"], "epochs": s["cfg"].eval_epochs}


# --------------------------------------------------------------------------------- experiments
def run_mnist(seed: int = 0, cfg: MnistConfig | None = None, progress: bool = False,
              data_dir=None) -> dict:
    """The whole single-classifier experiment; returns {'metrics', 'samples', ...} for plotting."""
    from .baselines import BNStatObjective
    from .gbc import NaiveObjective, train_generator
    from .kkt import kkt_fit
    from .utils import seed_everything

    t0 = time.perf_counter()
    cfg = cfg or MnistConfig()
    s = _setup(seed, cfg, data_dir, progress)
    cfg, dev, imgs, labs = s["cfg"], s["dev"], s["imgs"], s["labs"]
    X, y = imgs["train"].to(dev), labs["train"].to(dev)

    seed_everything(seed)
    model, lam, clf_hist = train_mnist_classifier(X, y, cfg, progress=progress)
    t_clf = time.perf_counter()
    kkt = kkt_fit(frozen_copy(model, "train"), X, y, lam.Pi.to(dev), pairs=cfg.kkt_pairs,
                  chunk=cfg.kkt_chunk)
    clf = {"architecture": architecture(cfg),
           "train_accuracy": clf_hist["train_acc"][-1],
           "test_accuracy": accuracy(model, s["test_x"].to(dev), s["test_y"].to(dev)),
           "n_test": int(len(s["test_y"])),
           "kkt_residual": kkt.residual, "kkt_mode": ("training-mode BN, " if cfg.bn else "")
           + ("pairs" if cfg.kkt_pairs else "one constraint per image"),
           "n_support_vectors": kkt.n_support, "q_min": kkt.q_min,
           "lambda": {"choice": lam.choice, "Pi": [n for n, p in zip(lam.names, lam.Pi) if p],
                      "lam_max": lam.lam_max},
           "seconds": time.perf_counter() - t0}
    # the loss a generator that reproduced the 500 training images (uniformly) would reach:
    # if generated samples beat it, the conditions do not single the training images out
    clf["L_stat_of_train_images"] = L_stat_of(model, lam, cfg, X, y)
    if cfg.clf_rule == "weight_decay":
        from .recovery import wd_diagnostics

        clf.update(wd_diagnostics(model, X, y, cfg.wd, chunk=cfg.kkt_chunk,
                                  pairs=kkt if cfg.kkt_pairs else None))
        clf["residual_history"] = {"step": clf_hist["step"], "residual": clf_hist["residual"]}

    n_samples = cfg.n_samples or cfg.n_pool
    runs = {}
    methods = [("gbc", cfg.gen_steps), ("naive", cfg.naive_steps)]
    if cfg.bn:  # BN-statistics matching needs running statistics to match
        methods.append(("bnstat", cfg.bnstat_steps))
    if cfg.particle_steps > 0:
        methods.append(("particles", cfg.particle_steps))
    for name, steps in methods:
        t1 = time.perf_counter()
        seed_everything(seed + {"gbc": 1000, "naive": 2000, "bnstat": 3000, "particles": 4000}[name])
        G = make_generator(cfg).to(dev)
        if name == "particles":  # the same objective on free images instead of a generator
            from .particles import Particles

            G = Particles(10, len(X) * cfg.particle_mult, seed=seed).to(dev)
            obj = gbc_objective(model, lam, cfg, 10)
        elif name == "gbc":
            obj = gbc_objective(model, lam, cfg, 10)
        elif name == "naive":
            obj = NaiveObjective(frozen_copy(model, "eval"), 10)
        else:
            obj = BNStatObjective(model, 10, r_bn=cfg.r_bn)
        lr = {"gbc": cfg.gen_lr, "particles": cfg.particle_lr}.get(name, cfg.baseline_lr)
        hist = train_generator(G, obj.to(dev), steps=steps, batch=cfg.batch, lr=lr,
                               lr_final=cfg.gen_lr_final, seed=seed,
                               surrogate_a=cfg.surrogate_a if name in ("gbc", "particles") else None,
                               progress=progress, desc=f"{name} generator",
                               log_every=max(steps // 30, 1))
        x, yy = draw(G, n_samples, 10, seed + 7)
        runs[name] = {"G": G, "x": x, "y": yy, "hist": hist,
                      "seconds": time.perf_counter() - t1}
        if name == "gbc" and cfg.gauge == "stretch":  # only the train-mode BN loss has the gauge
            runs[name]["x_raw"], runs[name]["x"] = x, stretch(x)
        elif cfg.gauge not in ("stretch", "none"):
            raise ValueError(f"gauge must be 'stretch' or 'none', got {cfg.gauge!r}")

    metrics = {"seed": seed, "config": asdict(cfg), "data": s["info"], "classifier": clf,
               "evaluator": _evaluator_row(s)}
    if not cfg.bn:
        metrics["bnstat_skipped"] = "the classifier has no batch norm (bn=False): no statistics to match"
    ref = (imgs["pool_b"], labs["pool_b"])
    for name, r in runs.items():
        row = image_metrics(r["x"], r["y"], imgs["train"], labs["train"], ref, s["fref"], s["ev"],
                            s["judges"])
        row["train_seconds"] = r["seconds"]
        if "x_raw" in r:
            row.update(_raw_row(r["x_raw"], r["y"], s))
        row["final_losses"] = {k: v[-1] for k, v in r["hist"].items() if k != "step"}
        metrics[name] = row
    metrics["real"] = image_metrics(imgs["pool_a"], labs["pool_a"], imgs["train"],
                                    labs["train"], ref, s["fref"], s["ev"], s["judges"])
    metrics["real"]["what"] = "pool_a: held-out real images, never seen by the classifier"
    # the ceiling: the training images themselves, judged the same way (a perfect recovery)
    metrics["train_images"] = image_metrics(imgs["train"], labs["train"], imgs["train"],
                                            labs["train"], ref, s["fref"], s["ev"], s["judges"])
    metrics["train_images"]["what"] = "the classifier's training images: what a perfect recovery scores"
    metrics["seconds"] = time.perf_counter() - t0
    return {"metrics": metrics, "model": model, "lam": lam, "kkt": kkt, "cfg": cfg,
            "train": (imgs["train"], labs["train"]), "split": s["split"],
            "samples": {k: (r["x"], r["y"]) for k, r in runs.items()},
            "generators": {k: r["G"] for k, r in runs.items()},
            "history": {"classifier": clf_hist, **{k: r["hist"] for k, r in runs.items()}},
            "real": (imgs["pool_a"], labs["pool_a"]), "t_classifier": t_clf - t0}


def run_mnist_multi(seed: int = 0, cfg: MnistConfig | None = None, progress: bool = False,
                    data_dir=None, n_classifiers: int = 2) -> dict:
    """One generator G(z, y, k) born from K classifiers, classifier k knowing digits
    k·C .. k·C + C − 1 (C = 10/K) of the same 500 training images; each has its own Λ, Π, α."""
    from .gbc import train_generator
    from .kkt import kkt_fit
    from .utils import seed_everything

    t0 = time.perf_counter()
    cfg = cfg or MnistConfig()
    s = _setup(seed, cfg, data_dir, progress)
    cfg, dev, imgs, labs = s["cfg"], s["dev"], s["imgs"], s["labs"]
    C = 10 // n_classifiers
    objs, clfs, models = [], [], []
    for k in range(n_classifiers):
        keep = (labs["train"] // C) == k
        X, y = imgs["train"][keep].to(dev), (labs["train"][keep] - k * C).to(dev)
        seed_everything(seed + 100 * k)
        model, lam, hist = train_mnist_classifier(X, y, cfg, n_classes=C, progress=progress)
        kkt = kkt_fit(frozen_copy(model, "train"), X, y, lam.Pi.to(dev), pairs=cfg.kkt_pairs,
                  chunk=cfg.kkt_chunk)
        tkeep = (s["test_y"] // C) == k
        clfs.append({"digits": list(range(k * C, k * C + C)), "train_accuracy": hist["train_acc"][-1],
                     "test_accuracy": accuracy(model, s["test_x"][tkeep].to(dev),
                                               (s["test_y"][tkeep] - k * C).to(dev)),
                     "kkt_residual": kkt.residual, "q_min": kkt.q_min,
                     "L_stat_of_train_images": L_stat_of(model, lam, cfg, X, y, C),
                     "n_support_vectors": kkt.n_support})
        objs.append(gbc_objective(model, lam, cfg, C))
        models.append(model)
    seed_everything(seed + 1000)
    G = MultiGenerator(make_generator(cfg, C, n_classifiers), C, n_classifiers).to(dev)
    obj = MultiObjective(objs, C).to(dev)
    t1 = time.perf_counter()
    hist = train_generator(G, obj, steps=cfg.gen_steps, batch=cfg.batch, lr=cfg.gen_lr,
                           lr_final=cfg.gen_lr_final, seed=seed, surrogate_a=cfg.surrogate_a,
                           progress=progress, desc="GBC generator (2 classifiers)",
                           log_every=max(cfg.gen_steps // 30, 1))
    n_samples = cfg.n_samples or cfg.n_pool
    G.eval()
    x, yy = G.sample(n_samples, generator=torch.Generator().manual_seed(seed + 7))
    x, yy = x.cpu(), yy.cpu()
    x_raw = x
    if cfg.gauge == "stretch":  # each classifier sees only its own digits: one map per k
        x = x.clone()
        for k in range(n_classifiers):
            x[(yy // C) == k] = stretch(x_raw[(yy // C) == k])
    ref = (imgs["pool_b"], labs["pool_b"])
    row = image_metrics(x, yy, imgs["train"], labs["train"], ref, s["fref"], s["ev"], s["judges"])
    if cfg.gauge == "stretch":
        row.update(_raw_row(x_raw, yy, s))
    row["train_seconds"] = time.perf_counter() - t1
    row["final_losses"] = {k: v[-1] for k, v in hist.items() if k != "step"}
    from .evaluator import evaluator_logits

    pred = evaluator_logits(s["ev"], x).argmax(1)
    row["evaluator_accuracy_per_classifier"] = [
        float((pred[(yy // C) == k] == yy[(yy // C) == k]).float().mean())
        for k in range(n_classifiers)]
    metrics = {"seed": seed, "config": asdict(cfg), "data": s["info"], "classifiers": clfs,
               "evaluator": _evaluator_row(s), "gbc": row,
               "real": image_metrics(imgs["pool_a"], labs["pool_a"], imgs["train"],
                                     labs["train"], ref, s["fref"], s["ev"], s["judges"]),
               "seconds": time.perf_counter() - t0}
    return {"metrics": metrics, "models": models, "cfg": cfg, "G": G,
            "train": (imgs["train"], labs["train"]), "split": s["split"],
            "samples": {"gbc": (x, yy)}, "history": {"gbc": hist},
            "real": (imgs["pool_a"], labs["pool_a"])}


# the figures, tables, artifacts and CLI live in mnist_report; re-exported for one namespace
from .mnist_report import (  # noqa: E402
    add_mnist_commands,
    best_ssim,
    markdown_table,
    nearest_figure,
    recovery_figure,
    recovery_target_rows,
    summary,
    target_rows,
    targets_markdown,
    write_artifacts,
)

__all__ = ["MnistConfig", "run_mnist", "run_mnist_multi", "add_mnist_commands", "best_ssim",
           "markdown_table", "nearest_figure", "recovery_figure", "recovery_target_rows", "summary",
           "target_rows", "targets_markdown", "write_artifacts"]
