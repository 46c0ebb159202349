"""FLOP counting for the step-cost benchmark: what (a) and (b) cost in matmuls, analytically.

Only the matmuls and convolutions are counted, 2 FLOPs per multiply-add. Let the classifier's
Linear layers have M_l = n_in·n_out multiply-adds per sample (l = 1..L; M_1 is the first one),
the generator's layers (Linear or Conv2d, whose backward costs the same per layer as a
Linear's) MG_l, batch B, S = Σ M_l, SG = Σ MG_l:

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
(`counted_flops`), which counts the zero taps of UpConv's phase convolution (see `layer_macs`;
the benchmark's efficiency counts only the multiply-adds the function needs).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gbc_teach.models import UpConv


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


def counted_flops(f) -> int:
    """Matmul FLOPs of one call of f as torch.utils.flop_counter counts them (the cross-check
    of the analytic formulas: it sees every mm/addmm the autograd engine runs)."""
    with FlopCounterMode(display=False) as fc:
        f()
    return int(fc.get_total_flops())
