"""The networks of the faces experiment (docs/method.md §11; notebook 07): a multi-label attribute
classifier with one logit per attribute, and a generator G(z, a, c) of faces with attributes a.

The classifier is quasi-homogeneous up to its activation: bias-free 3×3 convolutions with stride
2, a bias in the first layer only (it fixes the image scale, as in the MNIST recovery profile) and
a linear head. With ReLU, f(x; e^{sΛ}θ) = e^s f(x; θ) for the Λ that `homogeneity.solve_lambda`
returns (min-norm: the same λ = 1/4 on every tensor, so Π is every tensor; the first layer's
weight and bias must share their λ). With softplus(10·x)/10, a smooth ReLU, the identity holds
only approximately, and none is needed: weight decay gives the KKT form with Π = every tensor.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from ..gbc import adam_fit
from ..models import ReLU, SoftReLU, UpConv, kaiming_init

ACTS = {"relu": ReLU, "softplus": SoftReLU}


class AttributeCNN(nn.Module):
    """x (N, 3, S, S) → f(x) (N, A): conv3×3/2 (3→w, bias) → act → conv3×3/2 (w→2w) → act →
    conv3×3/2 (2w→4w) → act → linear (4w·(S/8)² → A), no other bias. One logit f_a per attribute;
    attribute a is present where f_a > 0."""

    def __init__(self, n_attrs: int = 5, width: int = 16, size: int = 32, act: str = "softplus"):
        super().__init__()
        if act not in ACTS:
            raise ValueError(f"act must be one of {sorted(ACTS)}, got {act!r}")
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1, bias=True), ACTS[act](),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), ACTS[act](),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1, bias=False), ACTS[act](),
            nn.Flatten())
        self.head = nn.Linear(4 * width * (size // 8) ** 2, n_attrs, bias=False)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def all_combinations(n_attrs: int) -> torch.Tensor:
    """Every attribute vector a ∈ {0, 1}^A, (2^A, A), in binary order (row k has the bits of k)."""
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=n_attrs)))


def combination_index(a: torch.Tensor) -> torch.Tensor:
    """The row of `all_combinations` of each attribute vector: Σ_a a_a·2^(A−1−a)."""
    A = a.shape[1]
    return (a.round().long() * (2 ** torch.arange(A - 1, -1, -1, device=a.device))).sum(1)


class FaceGenerator(nn.Module):
    """G(z, a, c): noise z, attribute vector a ∈ {0, 1}^A (a linear embedding), code c ∈ {0..K−1}
    (one-hot) → fc → (ch, S/8, S/8) → three ×2 upsample-convs → sigmoid → (3, S, S) in [0, 1].

    combos (M, A): the attribute vectors a training batch covers, evenly, each with K codes and a
    learnable weight π_m (w = M·softmax, mean 1): the attribute prior of p, as the class weights
    of the MNIST generator; any a can be asked for when sampling.
    """

    def __init__(self, combos: torch.Tensor, z_dim: int = 8, n_codes: int = 1, ch: int = 64,
                 embed: int = 32, size: int = 32, out_bias: float = 0.0):
        super().__init__()
        self.z_dim, self.n_codes, self.side = z_dim, n_codes, size // 8
        self.register_buffer("combos", combos.float())
        self.embed = nn.Linear(combos.shape[1], embed)
        self.fc = nn.Linear(z_dim + embed + n_codes, ch * self.side ** 2)
        self.trunk = nn.Sequential(
            nn.LeakyReLU(0.2), nn.Unflatten(1, (ch, self.side, self.side)),
            UpConv(ch, ch // 2), nn.LeakyReLU(0.2),
            UpConv(ch // 2, ch // 4), nn.LeakyReLU(0.2),
            UpConv(ch // 4, 3))
        with torch.no_grad():
            self.trunk[-1].conv.bias.fill_(out_bias)  # sigmoid(out_bias): the starting pixel value
        self.combo_logits = nn.Parameter(torch.zeros(len(combos)))

    def forward(self, z: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.embed(a), F.one_hot(c.long(), self.n_codes).to(z.dtype)], 1)
        return torch.sigmoid(self.trunk(self.fc(h)))

    def combo_weights(self) -> torch.Tensor:
        """w_m = M·softmax(logits)_m: mean 1, the weight of attribute vector m in p."""
        return len(self.combos) * torch.softmax(self.combo_logits, 0)

    def training_batch(self, n: int, generator: torch.Generator | None = None):
        """(x, a, w): the training combinations and codes evenly spread, w their weights."""
        dev = self.combos.device
        m = torch.arange(n, device=dev) % len(self.combos)
        c = (torch.arange(n, device=dev) // len(self.combos)) % self.n_codes
        z = torch.randn(n, self.z_dim, generator=generator).to(dev)
        a = self.combos[m]
        return self(z, a, c), a, self.combo_weights()[m]

    @torch.no_grad()
    def sample(self, a: torch.Tensor, generator: torch.Generator | None = None):
        """One face for each requested attribute vector a (N, A), codes drawn uniformly; (x, a)."""
        dev = self.combos.device
        z = torch.randn(len(a), self.z_dim, generator=generator).to(dev)
        c = torch.randint(0, self.n_codes, (len(a),), generator=generator).to(dev)
        return self(z, a.to(dev).float(), c).cpu(), a.cpu().float()


def fit_generator(G: FaceGenerator, x: torch.Tensor, a: torch.Tensor, steps: int = 600,
                  lr: float = 3e-3, batch: int = 32, seed: int = 0) -> float:
    """Start G on given faces: least squares E_z ‖G(z, a_i, c_i) − x_i‖² over the faces (x_i, a_i)
    (e.g. the particles' answer), for any z; c_i counts the earlier faces of the same combination,
    so K faces of a combination take its K codes. Returns the final root-mean-square pixel
    distance."""
    dev = G.combos.device
    x, a = x.to(dev), a.to(dev).float()
    k = combination_index(a).tolist()
    code = torch.tensor([k[:j].count(k[j]) for j in range(len(k))], device=dev)
    if int(code.max()) >= G.n_codes:
        raise ValueError(f"{int(code.max()) + 1} faces of one combination for {G.n_codes} codes")
    i = torch.arange(batch, device=dev) % len(x)
    c = code[i]

    def loss_of(gen):  # the mean squared pixel error over a batch, every face in turn
        z = torch.randn(batch, G.z_dim, generator=gen).to(dev)
        return (G(z, a[i], c) - x[i]).pow(2).mean()

    return adam_fit(G.parameters(), loss_of, steps, lr, seed) ** 0.5
