"""The step-cost benchmark's cases and the computations it times: (a) fwd+bwd and (b) the GBC step.

A case is a classifier, its Λ, a generator and a batch size:

- 'mnist': exactly what `gbc-teach mnist` trains (gbc_teach.experiments.mnist_config.MnistConfig:
  classifier 784-256-256-10 with BN, Λ on the last layer, the conv generator, batch 200); the
  scaling sweeps override the batch or the classifier's hidden width.
- 'toy': the 2-D toy (bias-free MLP 2-100-100-3 with a constant input feature, Λ 'uniform' as
  gbc_teach.experiments.toy2d uses, a box generator), batch 256.

On a case, two computations are built as closures, to be timed:

(a) fwd+bwd — the floor's unit. The classifier alone, on a batch of generated images that is
    fixed and detached: forward, margins q, and one backward of the batch-mean margin w.r.t. θ
    (torch.autograd.grad, no graph). Same BN mode as (b).
(b) GBC step — what one iteration of `gbc_teach.gbc.train_generator` does: generator forward
    (G.training_batch), the full GBCObjective (v = E[∇_θ q] by one backward with
    create_graph=True, α, q_min, L_stat, L_dual), the second backward into G and the scalars,
    and the Adam step (configured as train_generator configures it; the LR schedule's one
    Python call is left out). MNIST: BN in training mode (batch statistics), the default.

The same step with the per-sample objective (c) of step_cost_check runs on an eval-mode copy
of the classifier (`bn_to_eval`).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch
from torch import nn

from gbc_teach.experiments.image_nets import make_classifier, make_generator
from gbc_teach.experiments.mnist_config import MnistConfig
from gbc_teach.homogeneity import solve_lambda
from gbc_teach.losses import GBCObjective
from gbc_teach.margins import q as margin
from gbc_teach.models import MLP, Generator

# The 2-D toy: bias-free MLP with a constant input feature; Λ 'uniform' as the toy experiment uses.
TOY_CLASSIFIER = dict(d_in=2, widths=[100, 100], d_out=3, bias=False, const_feature=True)
TOY_LAMBDA = "uniform"
TOY_GENERATOR = dict(z_dim=2, n_classes=3, out_shape=2, hidden=128, out="box", box=2.5)
TOY_BATCH = 256
# Adam as gbc_teach.gbc.train_generator builds it (defaults lr=1e-3, lr_scalars=1e-2).
ADAM_LR, ADAM_LR_SCALARS = 1e-3, 1e-2
LAMBDA_SAMPLES = 64  # generated samples used to solve the Euler identity for Λ


def mnist_defaults() -> MnistConfig:
    return MnistConfig()


def mnist_classifier(width: int | None = None) -> nn.Module:
    """The MNIST experiment's classifier, hidden widths overridden if given."""
    cfg = mnist_defaults()
    return make_classifier(cfg if width is None else replace(cfg, width=width))


def mnist_generator() -> nn.Module:
    """The MNIST experiment's generator (a conv trunk by default)."""
    return make_generator(mnist_defaults())


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
