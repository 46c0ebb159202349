"""The image classifiers and generators of the MNIST experiments, and the GBC objective on them
(docs/method.md §6–7; notebooks 05, 05b).

Classifier: an MLP 784 → width → width → C (batch norm, or bias-free with a first-layer bias);
generator: G(z, y, c) with a convolutional trunk; both built from an `MnistConfig`.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch
from torch import nn

from ..homogeneity import every_tensor, solve_lambda
from ..losses import GBCObjective
from ..models import MLP, Generator, UpConv
from ..training import finish_in_float64, train_classifier, train_weight_decay
from .config import weight_decay_scale
from .mnist_config import MnistConfig


def make_classifier(cfg: MnistConfig, n_classes: int = 10) -> nn.Module:
    bias = "first" if cfg.first_bias and not cfg.bias else cfg.bias
    model = MLP(784, [cfg.width, cfg.width], n_classes, bn=cfg.bn, bias=bias, act=cfg.act)
    with torch.no_grad():  # Haim et al.'s small first layer: training starts in the rich regime
        model.net[0].weight.mul_(cfg.init_scale)
    return model


def architecture(cfg: MnistConfig) -> str:
    """e.g. '784-256-256-10, Linear-BN-relu' or '784-256-256-10, Linear-relu, no biases'."""
    layer = "-".join(["Linear"] + (["BN"] * cfg.bn) + [cfg.act])
    biases = "" if cfg.bias else ", first-layer bias only" if cfg.first_bias else ", no biases"
    task = ", even/odd" if cfg.task == "parity" else ""
    return f"784-{cfg.width}-{cfg.width}-{cfg.n_classes}, {layer}" + biases + task


def train_mnist_classifier(X, y, cfg: MnistConfig, n_classes: int = 10, progress=False):
    """The paper's classifier trained full-batch, training-mode BN; returns (model, Λ, history).

    clf_rule='weight_decay': Adam then L-BFGS on CE + (wd/2)‖θ‖² (clf_f64_lbfgs more L-BFGS
    iterations in float64, the model stored in float32 again); Π is every tensor."""
    model = make_classifier(cfg, n_classes).to(X.device)
    if cfg.clf_rule == "weight_decay":
        hist = train_weight_decay(model, X, y, wd=cfg.wd, adam_steps=cfg.clf_steps, lr=cfg.wd_lr,
                                  lbfgs_iters=cfg.clf_lbfgs, progress=progress,
                                  log_every=max(cfg.clf_steps // 20, 1))
        if cfg.clf_f64_lbfgs:  # float32 L-BFGS stalls before the weakest directions settle
            more = finish_in_float64(model, X, y, cfg.wd, cfg.clf_f64_lbfgs, progress=progress)
            for k, shift in (("step", hist["step"][-1]), ("seconds", hist["seconds"][-1])):
                more[k] = [v + shift for v in more[k]]
            hist = {k: hist[k] + more[k] for k in hist}
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


def conv_trunk(d_in: int, ch: int = 64) -> nn.Module:
    """(N, d_in) → (N, 784) pre-activations: fc → (ch, 7, 7) → ×2 up, conv → ×2 up, conv.

    Each "×2 nearest upsample, 3×3 conv" is a models.UpConv: the same function computed on the
    small grid (2.25× fewer multiply-adds; tests/test_models.py checks the equivalence).
    """
    return nn.Sequential(
        nn.Linear(d_in, ch * 49), nn.LeakyReLU(0.2), nn.Unflatten(1, (ch, 7, 7)),
        UpConv(ch, ch // 2), nn.LeakyReLU(0.2),
        UpConv(ch // 2, 1),  # (N, 1, 28, 28)
        nn.Flatten())


def make_generator(cfg: MnistConfig, n_classes: int = 10, n_classifiers: int = 1):
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
    obj = GBCObjective(frozen_copy(model, cfg.gbc_bn_mode), lam.Pi, lam.lam_max, n_classes,
                       qmin_mode=cfg.qmin_mode, beta=cfg.beta, kappa=cfg.kappa,
                       class_weights=cfg.class_weights, alpha_mode=cfg.alpha_mode,
                       stat_form=cfg.stat_form, **weight_decay_scale(cfg))
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


def stretch(x: torch.Tensor, lo: float = 0.01, hi: float = 0.99, ref: torch.Tensor | None = None
            ) -> torch.Tensor:
    """Map the set's lo and hi intensity quantiles to 0 and 1 (clamped): one affine map for all.

    A training-mode BN classifier cannot tell a batch x from c·x + g (c > 0): its first BN
    removes every per-feature shift and scale of W₁x. So the GBC losses fix GBC samples only up
    to this map, and we pick the member that uses the image range. ref: take the quantiles from
    this set instead (e.g. the samples, to map the codes' images the same way).
    """
    v = (x if ref is None else ref).flatten()
    if v.numel() > 2**24:
        v = v[torch.randperm(v.numel(), generator=torch.Generator().manual_seed(0))[:2**24]]
    a, b = torch.quantile(v, torch.tensor([lo, hi], dtype=v.dtype)).tolist()
    return ((x - a) / max(b - a, 1e-6)).clamp(0, 1)


@torch.no_grad()
def code_images(G):
    """G(z = 0, y, c) for every class y and code c: the generator's atoms, as (x on CPU, y).

    With K codes a class the samples of a class are K lumps around these; their within-class
    spread (`evaluation.images.diversity`) is the one to hold against the training images'."""
    G.eval()
    dev = G.code_logits.device
    y = torch.arange(G.n_classes, device=dev).repeat_interleave(G.n_codes)
    c = torch.arange(G.n_codes, device=dev).repeat(G.n_classes)
    return G(torch.zeros(len(y), G.z_dim, device=dev), y, c).cpu(), y.cpu()


@torch.no_grad()
def draw(G, n: int, n_classes: int, seed: int, k: int | None = None):
    """n samples, labels evenly spread, as (x (n, 1, 28, 28) on CPU, y (n,))."""
    g = torch.Generator().manual_seed(seed)
    G.eval()
    y = torch.arange(n) % n_classes
    kk = None if k is None else torch.full((n,), k)
    x, y = G.sample(n, y=y, k=kk, generator=g)
    return x.cpu(), y.cpu()
