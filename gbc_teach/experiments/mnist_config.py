"""The settings of the MNIST experiments (docs/method.md §6–10; notebooks 05, 05b, 06).

`MnistConfig()` is the paper's setting on a CPU (500 images, batch-norm classifier);
`MnistConfig.recovery()` the regime where the classifier gives its training images back
(`gbc-teach mnist`'s default); `MnistConfig.paper()` the paper's scale on a GPU; `fast()` CI sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

FALLBACK_BANNER = ("WARNING: NO MNIST FOUND — these results use scikit-learn's bundled 8x8 "
                   "digits upsampled to 28x28, NOT MNIST. Run `gbc-teach data download mnist` "
                   "or set GBC_DATA_DIR.")



# what each profile of MnistConfig.profile is (`--profile`'s help)
PROFILES = {
    "recovery": "a weight-decay classifier at its stationary point (10 images for `mnist`), "
                "GBC and particles asked for its images",
    "haim": "the same with Haim et al.'s classifier rule (small first layer, plain GD, no wd)",
    "paper": "the paper's 500-image batch-norm classifier",
    "paper-scale": "the paper's scale, for a GPU",
}


@dataclass
class MnistConfig:
    """Defaults of `gbc-teach mnist` on CPU (minutes); `paper()` is the GPU profile."""

    n_per_class: int = 50  # the paper: 500 training images, 50 a class (of each digit)
    task: str = "digits"  # 'parity': Haim et al.'s binary task, even (0) vs odd (1) digits
    n_pool: int = 500  # each real pool (real row, recovery reference, Fréchet reference)
    n_eval_images: int = 6000  # the evaluator's training images
    eval_epochs: int = 8
    # classifier: 784 → width → width → 10, Linear → BN → ReLU, Kaiming init
    width: int = 256
    act: str = "relu"  # 'relu2' (smooth, homogeneous) reaches KKT points more closely
    bn: bool = True  # False: Haim et al.'s bias-free homogeneous MLP (with bias=False, 'uniform' Λ)
    bias: bool = True
    first_bias: bool = False  # with bias=False: a bias in the first layer only (fixes image scale)
    init_scale: float = 1.0  # first layer's Kaiming init × this; Haim et al.: 1e-4, 'plain' GD
    clf_steps: int = 600  # 'weight_decay': the Adam steps before L-BFGS
    clf_rule: str = "relative"  # fraction of ‖θ‖ along −∇log L; or 'weight_decay' (Adam, L-BFGS)
    clf_lr: float = 0.03
    clf_lr_final: float = 0.1
    wd: float = 5e-4  # 'weight_decay': the weight of (wd/2)‖θ‖²
    wd_lr: float = 1e-3  # 'weight_decay': Adam's step
    clf_lbfgs: int = 500  # 'weight_decay': L-BFGS iterations after Adam
    clf_f64_lbfgs: int = 0  # 'weight_decay': then L-BFGS in float64 (training.finish_in_float64)
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
    # γ of L_scale (losses.GBCObjective): ‖v‖ held to its size at weight decay's α = 1/wd; 0: off
    scale_weight: float = 0.0
    stat_tensors: str = "all"  # 'Pi': stationarity on Π tensors only (drops 0 = E[∇q] elsewhere)
    gbc_bn_mode: str = "train"  # BN inside the GBC loss: 'train' (batch stats) or 'eval'
    gauge: str = "stretch"  # GBC samples: 'stretch' the set's intensity range to [0, 1] (below)
    # baselines
    naive_steps: int = 500
    bnstat_steps: int = 1000
    baseline_lr: float = 3e-3  # naive and BN-stat generators (BN-stat: 1e-3 → 0.12, 3e-3 → 0.91)
    r_bn: float = 10.0  # BN-stat weight (1 → 0.91, 10 → 0.94 evaluator accuracy at 1000 steps)
    particle_steps: int = 0  # > 0: the free-particle reconstruction too (baselines.particles.Particles)
    particle_lr: float = 0.05
    particle_mult: int = 1  # particles per training image (the count is the classifier's n)
    # > 0: the row-space reconstruction too, with this many LPs (baselines.rowspace; MLP, no BN)
    rowspace_lps: int = 0
    rowspace_rounds: int = 1  # > 1: deflated rounds of rowspace_lps // 3 LPs each
    rowspace_reweight: int = 0  # reweighted-ℓ1 re-solves of each LP (sparser answers)
    judges: bool = True  # a second evaluator and train-on-synthetic/test-on-real accuracy
    n_samples: int | None = None  # generated images per method (None: n_pool, as the metrics ask)
    device: str = "cpu"
    threads: int = 1  # CPU threads; 2 threads on a busy 2-core machine run 4× slower than 1

    def rowspace_options(self) -> dict:
        """The keyword arguments of `baselines.rowspace.recover` this configuration asks for."""
        return dict(n_lp=self.rowspace_lps, rounds=self.rowspace_rounds,
                    reweight=self.rowspace_reweight)

    @property
    def n_classes(self) -> int:
        """The classifier's outputs: 10 digits, or 2 for the parity task."""
        return 2 if self.task == "parity" else 10

    @property
    def images_per_class(self) -> int:
        """Training images of each of the classifier's classes (5 digits a parity class)."""
        return self.n_per_class * 10 // self.n_classes

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
        one code per training image, weight decay's known scale α = 1/wd as the small penalty
        L_scale (docs/method.md §10: it keeps GBC off dim blends from 20 images on), and free
        particles beside it (notebook 05b)."""
        base = dict(n_per_class=1, act="softplus", bn=False, bias=False, first_bias=True,
                    clf_rule="weight_decay", clf_steps=2000, kkt_pairs=True, z_dim=8,
                    n_codes=1, gen_steps=3000, qmin_mode="none", alpha_mode="closed",
                    stat_form="pairs", scale_weight=0.01, class_weights=False, gauge="none",
                    particle_steps=3000, rowspace_lps=500, rowspace_rounds=3,
                    rowspace_reweight=2)
        if fast:
            base.update(n_pool=100, n_eval_images=1000, eval_epochs=2, width=64, clf_steps=200,
                        clf_lbfgs=100, hidden=128, gen_channels=16, batch=100, gen_steps=60,
                        naive_steps=30, particle_steps=60, rowspace_lps=100)
        base.update(kw)
        return cls(**base)

    @classmethod
    def haim(cls, fast: bool = False, **kw) -> "MnistConfig":
        """The recovery profile with Haim et al.'s classifier rule: a ReLU MLP whose first layer
        starts 10⁴× small, plain gradient descent on cross-entropy, no weight decay. Far from a
        KKT point after 2·10⁴ steps, yet its first layer holds every training image
        (kkt.first_layer_view; docs/method.md §10). As in Haim et al., GBC and the particles
        back-propagate through the ReLUs with sigmoid(a·x) (surrogate_a = 20): some of the
        first layer's units sit exactly on their kink at the training images, where the exact
        gradient points uphill for any finite step."""
        base = dict(clf_rule="plain", init_scale=1e-4, act="relu", lam_choice="uniform",
                    clf_steps=2000 if fast else 20000, clf_lr=0.01, surrogate_a=20.0,
                    scale_weight=0.0)  # no weight decay: no known scale
        base.update(kw)
        return cls.recovery(fast=fast, **base)

    @classmethod
    def profile(cls, name: str, fast: bool = False) -> "MnistConfig":
        """By name: 'recovery' (the default of `gbc-teach mnist`), 'haim' (the same with Haim et
        al.'s classifier rule), 'paper' (the paper's 500-image batch-norm classifier on a CPU) or
        'paper-scale' (its GPU scale)."""
        if name == "paper-scale":
            return cls.paper()
        if name == "paper":
            return cls.fast() if fast else cls()
        if name == "recovery":
            return cls.recovery(fast=fast)
        if name == "haim":
            return cls.haim(fast=fast)
        raise ValueError(f"profile must be 'recovery', 'haim', 'paper' or 'paper-scale', "
                         f"got {name!r}")

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
