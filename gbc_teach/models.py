"""Classifiers and generators (docs/method.md §3, §6; notebooks 01, 03, 05).

All classifiers are built from Linear/Conv, batch norm and `ReLU`, so they are
quasi-homogeneous and `homogeneity.solve_lambda` applies to them.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn
from torch.nn import functional as F


class ReLU(nn.Module):
    """ReLU whose backward can be swapped for sigmoid(a·x) (forward unchanged; docs/method.md §7).

    With `a` set, the output is relu(x) + s(x) − s(x).detach() with s(x) = softplus(a·x)/a,
    so the value is exactly relu(x) and every derivative is that of s: ds/dx = sigmoid(a·x).
    """

    def __init__(self, a: float | None = None):
        super().__init__()
        self.a = a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.a is None:
            return torch.relu(x)
        s = F.softplus(self.a * x) / self.a
        return torch.relu(x).detach() + (s - s.detach())  # (s − s) = 0 exactly: value = relu

    def extra_repr(self) -> str:
        return "" if self.a is None else f"surrogate a={self.a}"


class SoftReLU(nn.Module):
    """softplus(β·x)/β: ReLU rounded off at scale 1/β. Not homogeneous, but smooth, so a
    weight-decay classifier reaches its stationary point (and its KKT form, which needs no Λ)
    to a small residual, where ReLU's kinks stall it (notebook 05b)."""

    def __init__(self, beta: float = 10.0):
        super().__init__()
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x, beta=self.beta)


class SquaredReLU(nn.Module):
    """relu(x)²: positively homogeneous of degree 2 and continuously differentiable, so the
    margin gradients ∇_θ q, and the KKT conditions built from them, vary smoothly with x."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x).square()


@contextlib.contextmanager
def surrogate_relu(model: nn.Module, a: float | None, calib_x: torch.Tensor | None = None):
    """Within the block, every ReLU of `model` back-propagates sigmoid(a·x) (None: exact).

    With calib_x, `a` is relative: each ReLU uses a / rms(its input on calib_x), so the
    sigmoid's width is the same fraction of the typical pre-activation in every layer and at
    any overall scale of θ.
    """
    swapped = []
    for m in list(model.modules()):
        for cname, child in list(m.named_children()):
            if type(child) is nn.ReLU:  # plain torch ReLU: swap in ours for the block
                setattr(m, cname, ReLU())
                swapped.append((m, cname, child))
    ours = [m for m in model.modules() if isinstance(m, ReLU)]
    old = [m.a for m in ours]
    scales = [1.0] * len(ours)
    if a is not None and calib_x is not None:
        rms: dict[int, float] = {}
        hooks = [m.register_forward_hook(
            lambda mod, inp, out, i=i: rms.__setitem__(i, float(inp[0].pow(2).mean().sqrt())))
            for i, m in enumerate(ours)]
        with torch.no_grad():
            model(calib_x)
        for h in hooks:
            h.remove()
        scales = [max(rms.get(i, 1.0), 1e-12) for i in range(len(ours))]
    for m, sc in zip(ours, scales):
        m.a = None if a is None else a / sc
    try:
        yield model
    finally:
        for m, v in zip(ours, old):
            m.a = v
        for m, cname, child in swapped:
            setattr(m, cname, child)


class RBFLift(nn.Module):
    """Fixed Gaussian bumps on an n×n grid over [−extent, extent]²: φ(x)_j = exp(−‖x − c_j‖²/2w²).

    No parameters, so Λ is unchanged. It plays the part of a high-dimensional input: on raw
    2-D points the per-point gradients ∇_θ q are too alike for the KKT conditions to single
    the training points out (notebook 01 measures this), while local features make them distinct.
    """

    def __init__(self, n: int = 8, width: float = 0.5, extent: float = 2.2,
                 keep_input: bool = False):
        super().__init__()
        g = torch.linspace(-extent, extent, n)
        a, b = torch.meshgrid(g, g, indexing="xy")
        self.register_buffer("centers", torch.stack([a.flatten(), b.flatten()], 1))  # (n², 2)
        self.width, self.keep_input = width, keep_input
        self.out_dim = n * n + (2 if keep_input else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d2 = (x[:, None, :] - self.centers[None]).pow(2).sum(-1)  # (N, n²)
        phi = torch.exp(-d2 / (2 * self.width ** 2))
        # keep_input: the raw coordinates too, so margins keep growing away from the data
        return torch.cat([x, phi], 1) if self.keep_input else phi


class MLP(nn.Module):
    """Fully connected classifier: [Linear → (BN) → ReLU] × len(widths) → Linear.

    const_feature appends a constant 1 to the input, so a bias-free MLP stays homogeneous
    yet its first layer is affine in the original input. bias='first': a bias in the first
    layer only (Haim et al.'s choice: it fixes the scale of an image, f(cx) ≠ c·f(x)).
    lift: an optional fixed feature map (e.g. RBFLift) applied to the input first; d_in is
    then the raw input's size.
    """

    ACTS = {"relu": ReLU, "relu2": SquaredReLU, "softplus": SoftReLU}

    def __init__(self, d_in: int, widths: list[int], d_out: int, bias: bool | str = True,
                 bn: bool = False, init_scale: float = 1.0, const_feature: bool = False,
                 act: str = "relu", lift: nn.Module | None = None):
        super().__init__()
        if act not in self.ACTS:
            raise ValueError(f"act must be one of {sorted(self.ACTS)}, got {act!r}")
        if bias not in (True, False, "first"):
            raise ValueError(f"bias must be True, False or 'first', got {bias!r}")
        self.d_in, self.const_feature, self.lift = d_in, const_feature, lift
        dims = [(lift.out_dim if lift is not None else d_in) + int(const_feature), *widths]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b, bias=bias is True or (bias == "first" and i == 0)))
            if bn:
                layers.append(nn.BatchNorm1d(b))
            layers.append(self.ACTS[act]())
        layers.append(nn.Linear(dims[-1], d_out, bias=bias is True))
        self.net = nn.Sequential(*layers)
        kaiming_init(self, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.d_in:
            raise ValueError(f"MLP expects {self.d_in} input features, got shape {tuple(x.shape)}")
        if self.lift is not None:
            x = self.lift(x)
        if self.const_feature:
            x = torch.cat([x, torch.ones_like(x[:, :1])], 1)
        return self.net(x)


class SmallCNN(nn.Module):
    """A small quasi-homogeneous CNN: two conv blocks (conv → ReLU → avg-pool) and a linear head."""

    def __init__(self, in_ch: int = 1, n_classes: int = 10, width: int = 8, bias: bool = True,
                 side: int = 28):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, width, 3, padding=1, bias=bias), ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=bias), ReLU(), nn.AvgPool2d(2))
        self.head = nn.Linear(2 * width * (side // 4) ** 2, n_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def kaiming_init(model: nn.Module, scale: float = 1.0) -> nn.Module:
    """Kaiming-normal weights ×scale, zero biases; a small scale starts in the 'rich' regime."""
    g = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * scale
                               * math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.zero_()
    return model


def batch_rows(n: int, share: tuple[int, int]) -> slice:
    """Rows r·n/W … (r+1)·n/W − 1 of a batch of n: rank r's share of W (n a multiple of W)."""
    r, W = share
    if n % W:
        raise ValueError(f"a batch of {n} does not split evenly over {W} ranks")
    return slice(r * (n // W), (r + 1) * (n // W))


class Generator(nn.Module):
    """Conditional generator G(z, c, y[, k]) with outputs in a bounded domain (docs/method.md §6–7).

    z ~ N(0, I) is the usual noise. c ∈ {0..K−1} is an optional discrete code with learnable
    per-class weights π(c | y): the KKT distribution p puts point masses μ_i on the support
    vectors, and a smooth map of a Gaussian alone can only spread mass along curves; K codes
    give the generator atoms to place (K = 1 switches this off).
    out="box": x = box·tanh(h) ∈ [−box, box]^d (2-D toy; box leaves room around the data).
    out="unit": x = sigmoid(h) ∈ [0, 1]^d (images).
    """

    def __init__(self, z_dim: int, n_classes: int, out_shape: tuple[int, ...] | int,
                 hidden: int = 128, depth: int = 2, out: str = "box", box: float = 2.5,
                 n_classifiers: int = 1, n_codes: int = 1, anchor_std: float = 0.0):
        super().__init__()
        self.z_dim, self.n_classes, self.n_classifiers = z_dim, n_classes, n_classifiers
        self.n_codes = n_codes
        self.out_shape = (out_shape,) if isinstance(out_shape, int) else tuple(out_shape)
        self.out, self.box = out, box
        if out not in ("box", "unit"):
            raise ValueError(f"out must be 'box' or 'unit', got {out!r}")
        d_in = z_dim + n_classes + (n_classifiers if n_classifiers > 1 else 0)
        d_in += n_codes if n_codes > 1 else 0
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(hidden, math.prod(self.out_shape)))
        self.net = nn.Sequential(*layers)
        # log π(c | y), one row per class; uniform at the start
        self.code_logits = nn.Parameter(torch.zeros(n_classes, n_codes),
                                        requires_grad=n_codes > 1)
        # a learnable anchor per (class, code), added before the output squashing: random
        # anchors start the codes spread over the domain instead of all at one point
        d_out = math.prod(self.out_shape)
        self.anchor = nn.Parameter(anchor_std * torch.randn(n_classes, n_codes, d_out),
                                   requires_grad=n_codes > 1 and anchor_std > 0)

    def forward(self, z: torch.Tensor, y: torch.Tensor, c: torch.Tensor | None = None,
                k: torch.Tensor | None = None):
        parts = [z, F.one_hot(y.long(), self.n_classes).to(z.dtype)]
        if self.n_codes > 1:
            if c is None:
                raise ValueError("this generator has discrete codes: pass c")
            parts.append(F.one_hot(c.long(), self.n_codes).to(z.dtype))
        if self.n_classifiers > 1:
            if k is None:
                raise ValueError("this generator serves several classifiers: pass k")
            parts.append(F.one_hot(k.long(), self.n_classifiers).to(z.dtype))
        h = self.net(torch.cat(parts, 1))
        if self.anchor.requires_grad:
            h = h + self.anchor[y.long(), c.long()]
        x = self.box * torch.tanh(h) if self.out == "box" else torch.sigmoid(h)
        return x.view(len(z), *self.out_shape)

    def code_weights(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """K·π(c | y): importance weights (mean 1) of samples drawn with codes c evenly spread."""
        return self.n_codes * torch.softmax(self.code_logits, 1)[y.long(), c.long()]

    def training_batch(self, n: int, generator: torch.Generator | None = None,
                       k: torch.Tensor | None = None, share: tuple[int, int] = (0, 1)):
        """(x, y, w) for a training step: y and c evenly spread, w = K·π(c | y) (differentiable).

        share=(r, W): only rows `batch_rows(n, share)` of the batch, the same z included (all n
        are drawn), so W ranks together compute exactly the batch of one process."""
        dev = self.code_logits.device
        rows = batch_rows(n, share)
        y = (torch.arange(n, device=dev) % self.n_classes)[rows]
        c = ((torch.arange(n, device=dev) // self.n_classes) % self.n_codes)[rows]
        z = torch.randn(n, self.z_dim, generator=generator)[rows].to(dev)
        w = self.code_weights(y, c) if self.n_codes > 1 else None
        return self(z, y, c, None if k is None else k[rows]), y, w

    def sample(self, n: int, y: torch.Tensor | None = None, k: torch.Tensor | None = None,
               generator: torch.Generator | None = None):
        """n samples (labels evenly spread unless given, codes drawn from π); returns (x, y)."""
        dev = self.code_logits.device
        z = torch.randn(n, self.z_dim, generator=generator).to(dev)
        y = (torch.arange(n) % self.n_classes if y is None else y.cpu()).long()
        c = None
        if self.n_codes > 1:
            probs = torch.softmax(self.code_logits.detach().cpu(), 1)[y]
            c = torch.multinomial(probs, 1, generator=generator)[:, 0].to(dev)
        y = y.to(dev)
        return self(z, y, c, None if k is None else k.to(dev)), y


class UpConv(nn.Module):
    """Nearest-neighbour upsampling ×2 followed by a 3×3 convolution (padding 1), computed on the
    small grid without the upsampled copy: the same function, the parameters of `self.conv` (an
    ordinary nn.Conv2d, so initialization is unchanged).

    Output row 2i + r sees input rows i − 1, i (r = 0, with 3×3 kernel rows W₀ and W₁ + W₂) or
    i, i + 1 (r = 1: W₀ + W₁ and W₂); the same along columns. Two ways to compute that:

    - a stride-2 transposed convolution, kernel 4, padding 1 (input row i feeds output rows
      2i − 1 + k, k = 0..3, so its kernel rows are (W₂, W₁ + W₂, W₀ + W₁, W₀)): the fewest
      multiply-adds, 16·C_in·C_out per input pixel, 2.25× fewer than upsample-then-conv;
    - a 3×3 convolution on the small grid into 4·C_out channels, one per output phase (r, s),
      then `pixel_shuffle`: 2.25× the multiply-adds (zero taps), but for one or two output
      channels oneDNN runs it 1.3–1.6× faster than the transposed convolution, whose few-channel
      kernels are poor (benchmarks/README.md). Used when C_out ≤ PHASE_MAX_OUT.
    """

    PHASE_MAX_OUT = 2

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    @staticmethod
    def transposed_kernel(w: torch.Tensor) -> torch.Tensor:
        """(C_out, C_in, 3, 3) → (C_in, C_out, 4, 4); additions only."""
        def fold(w, dim):
            t0, t1, t2 = w.unbind(dim)
            return torch.stack([t2, t1 + t2, t0 + t1, t0], dim)

        return fold(fold(w, 2), 3).transpose(0, 1)

    @staticmethod
    def phase_kernel(w: torch.Tensor) -> torch.Tensor:
        """(C_out, C_in, 3, 3) → (4·C_out, C_in, 3, 3), channel 4o + 2r + s for phase (r, s);
        additions only. Phase r reads small-grid rows i − 1, i, i + 1 with kernel rows
        (W₀, W₁ + W₂, 0) for r = 0 and (0, W₀ + W₁, W₂) for r = 1; the same along columns."""
        def fold(w, dim):  # (..., 3, ...) → (2, ..., 3, ...): phase r's rows along dim
            t0, t1, t2 = w.unbind(dim)
            z = torch.zeros_like(t0)
            return torch.stack([torch.stack([t0, t1 + t2, z], dim), torch.stack([z, t0 + t1, t2], dim)])

        K = fold(fold(w, 2), 4)  # (s, r, C_out, C_in, 3, 3)
        return K.permute(2, 1, 0, 3, 4, 5).reshape(4 * w.shape[0], w.shape[1], 3, 3)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h.contiguous(memory_format=torch.channels_last)  # 20-35% faster on CPU (oneDNN)
        w, b = self.conv.weight, self.conv.bias
        if w.shape[0] <= self.PHASE_MAX_OUT:
            bias = None if b is None else b.repeat_interleave(4)
            return F.pixel_shuffle(F.conv2d(h, self.phase_kernel(w), bias, padding=1), 2)
        return F.conv_transpose2d(h, self.transposed_kernel(w), b, stride=2, padding=1)
