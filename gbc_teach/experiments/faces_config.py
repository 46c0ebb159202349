"""The settings of the faces experiment (docs/method.md §11; notebook 07): `gbc-teach faces`.

`FaceConfig()` is the CPU default (32×32 synthetic faces, one face per training attribute
combination, some combinations held out); `FaceConfig.fast()` the CI sizes; `FaceConfig.paper()`
the GPU profile (64×64, wider nets, longer runs, bf16 autocast for the evaluator and the student).
"""

from __future__ import annotations

from dataclasses import dataclass

# what each profile of FaceConfig.profile is (`--profile`'s help)
PROFILES = {
    "default": "24 faces, a conv classifier with weight decay",
    "recovery": "4 faces, an MLP with weight decay: the faces come back as its first layer sees them",
    "paper-scale": "64×64 faces, wider nets, longer runs, for a GPU",
}


@dataclass
class FaceConfig:
    """Defaults of `gbc-teach faces` on one CPU thread (minutes)."""

    size: int = 32  # image side; 64 is the paper profile's
    per_combination: int = 1  # training faces per attribute combination
    held_out: int = 8  # of the 2^5 = 32 combinations, absent from the classifier's training set
    samples_per_combination: int = 8  # generated faces per combination (and fresh-pool faces)
    n_eval_images: int = 4000  # the attribute evaluator's training faces (a fresh draw)
    eval_epochs: int = 6
    n_test: int = 1000  # fresh real faces: train-on-synthetic/test-on-real and Fréchet reference
    # classifier: AttributeCNN, BCE + (wd/2)‖θ‖², Adam then L-BFGS to its stationary point
    arch: str = "cnn"  # 'mlp': 3·S² → mlp_width → mlp_width → A, first-layer bias (as MNIST's)
    width: int = 16
    mlp_width: int = 256
    act: str = "softplus"
    wd: float = 5e-4
    wd_lr: float = 1e-3
    clf_steps: int = 2000  # Adam steps before L-BFGS; with clf_rule='plain': the GD steps
    clf_lbfgs: int = 1500
    # 'weight_decay' (above) or 'plain': Haim et al.'s rule, plain full-batch GD on BCE from a
    # first layer scaled by init_scale, no weight decay (with arch='mlp', act='relu')
    clf_rule: str = "weight_decay"
    init_scale: float = 1.0
    clf_lr: float = 0.01
    surrogate_a: float | None = None  # GBC and particles: ReLU back-propagates sigmoid(a·x)
    # generator: FaceGenerator, one code per training face of a combination
    z_dim: int = 8
    gen_channels: int = 64
    gen_steps: int = 1000
    gen_lr: float = 1e-2
    gen_lr_final: float = 0.05  # every generator run's cosine schedule ends at lr × this
    gbc_lr_final: float = 0.05  # ... and GBC's own (the recovery profile keeps its step constant)
    gen_out_bias: float = 0.0  # the generator's first pixels: sigmoid(this); −4 starts near black
    stat_form: str = "pairs"  # v = E[∇ log p(s|x)], every (image, attribute) constraint
    # γ of L_scale = (log ‖v‖ − log(wd·‖θ‖))²: weight decay's known α = 1/wd (losses.py); 0: off
    scale_weight: float = 0.0
    # with L_scale on: GBC starts again (at most gen_restarts times) while its final L_scale is
    # above scale_tol (4: α more than e² ≈ 7 times from 1/wd; the blends sit 150–400 times
    # below it), and keeps the run with the lowest final loss
    gen_restarts: int = 0
    scale_tol: float = 4.0
    # where GBC's generator starts: 'random' (its init) or 'noise' (fitted in warm_fit_steps to
    # noise images uniform in [0, particle_init], the particles' start; faces.noise_start) — for
    # its first run (gbc_start) and for each restart (restart_start)
    gbc_start: str = "random"
    restart_start: str = "random"
    # baselines
    naive_steps: int = 500
    baseline_lr: float = 3e-3
    particle_steps: int = 1000
    particle_lr: float = 0.05
    particle_init: float = 0.01  # particles start uniform in [0, this]: dark (0.01) or noise (0.9)
    # gbc_warm: a second GBC run whose generator starts on the particles' answer (fitted to it in
    # warm_fit_steps), then warm_steps of the KKT losses at warm_lr, ending on the lowest logged loss
    gbc_warm: bool = False
    warm_fit_steps: int = 600
    warm_steps: int = 1000
    warm_lr: float = 1e-5
    tstr_steps: int = 300
    device: str = "cpu"
    threads: int = 1
    amp: bool = False  # bf16 autocast for the evaluator and the student on cuda

    @classmethod
    def fast(cls, **kw) -> "FaceConfig":
        """CI sizes: the same pipeline in well under a minute."""
        base = dict(samples_per_combination=2, n_eval_images=600, eval_epochs=1, n_test=200,
                    width=8, clf_steps=100, clf_lbfgs=20, gen_channels=16, gen_steps=20,
                    naive_steps=10, particle_steps=20, warm_fit_steps=20, warm_steps=10,
                    tstr_steps=30)
        base.update(kw)
        return cls(**base)

    @classmethod
    def paper(cls, **kw) -> "FaceConfig":
        """The GPU profile: 64×64 faces, two a combination, wider nets, longer runs, bf16 where
        it helps (README "gbc-teach faces" has the estimate of its time and memory)."""
        base = dict(size=64, per_combination=2, samples_per_combination=16,
                    n_eval_images=20000, eval_epochs=10, n_test=4000, width=64,
                    clf_steps=4000, clf_lbfgs=3000, gen_channels=128, gen_steps=10000,
                    naive_steps=3000, particle_steps=10000, tstr_steps=1000, device="cuda",
                    threads=4, amp=True)
        base.update(kw)
        return cls(**base)

    @classmethod
    def recovery(cls, fast: bool = False, **kw) -> "FaceConfig":
        """Where the classifier gives its training faces back (docs/method.md §11): an MLP with
        weight decay on 4 faces (28 of the 32 combinations held out), so that W₁'s few strong
        directions hold every face; GBC with weight decay's known scale (L_scale) at a small step,
        particles from noise images at a small step, both judged by the part of them that W₁
        sees (`kkt.seen_part`); and GBC started on the particles' answer."""
        # GBC from its own start: a small constant step and L_scale, so that low-contrast blends
        # (the right direction at an α far below 1/wd) stop being a resting place
        # and a run whose α ends far from 1/wd (a blend) starts once more, from noise images
        base = dict(arch="mlp", held_out=28, particle_init=0.9, particle_lr=0.003, gbc_warm=True,
                    gen_lr=3e-4, gbc_lr_final=1.0, scale_weight=0.01, gen_restarts=1,
                    restart_start="noise")
        if fast:  # the fast sizes (particle_steps among them), a narrower MLP
            return cls.fast(**{**base, "mlp_width": 64, **kw})
        return cls(**{**base, "particle_steps": 8000, "gen_steps": 16000, **kw})

    @classmethod
    def profile(cls, name: str, fast: bool = False) -> "FaceConfig":
        """'default' (CPU), 'recovery' (4 faces, an MLP) or 'paper-scale' (GPU); fast shrinks
        the CPU profiles."""
        if name == "paper-scale":
            return cls.paper()
        if name == "default":
            return cls.fast() if fast else cls()
        if name == "recovery":
            return cls.recovery(fast=fast)
        raise ValueError(f"profile must be 'default', 'recovery' or 'paper-scale', got {name!r}")
