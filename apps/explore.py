# %% [markdown]
# # Margin explorer
#
# The toy of notebook 01 ([`01_toy2d`](../notebooks/01_toy2d.ipynb)): three classes of eight points in
# the plane, a bias-free homogeneous classifier trained by the relative step rule into the
# max-margin regime, once on the raw 2-D input and once on a fixed RBF lift of it. Pick a training
# point and follow its margin q_i, its multiplier μ_i (fitted to the KKT stationarity condition
# Πθ = Σ μ_i ∇q_i) and whether it is a support vector, over training checkpoints and for either
# classifier. At a KKT point μ_i > 0 only where q_i = q_min (dashed contours): complementary
# slackness, which is what lets GBC find the training points again.
#
# Served by `make explore` (Voilà: no code shown). Sizes: the fast profile of notebook 01
# (`GBC_EXPLORE_STEPS` sets the classifier's steps).

# %%
import os
import time

from gbc_teach.datasets import toy2d as toy_data
from gbc_teach.experiments import toy2d
from gbc_teach.utils import seed_everything
from gbc_teach.viz import margin_explorer
from gbc_teach.viz.widgets import interactive_or_static

SEED = 0
STEPS = int(os.environ.get("GBC_EXPLORE_STEPS", "2000"))
t0 = time.perf_counter()
seed_everything(SEED)
data = toy_data.make_toy2d(SEED, toy2d.ToyConfig.n_classes, toy2d.ToyConfig.n_per_class)
runs = {}
for name, rbf_side in (("RBF lift (8×8)", 8), ("raw 2-D input", 0)):
    seed_everything(SEED)  # the same initial draw for both classifiers
    cfg = toy2d.ToyConfig.fast(clf_steps=STEPS, rbf_side=rbf_side)
    snaps, callback = margin_explorer.snapshot_callback(every=10)
    model, lam, _ = toy2d.train_toy_classifier(data, cfg, callback=callback)
    if snaps[-1][0] != STEPS:
        snaps.append((STEPS, model.state_dict()))
    runs[name] = margin_explorer.checkpoint_fits(model, snaps, data.X, data.y, lam.Pi)
n_checkpoints = len(runs["RBF lift (8×8)"])
first_sv = int(runs["RBF lift (8×8)"][-1]["fit"].support.nonzero()[0, 0])
print(f"{len(data.y)} points; two classifiers trained {STEPS} steps, {n_checkpoints} checkpoints each "
      f"(steps {[c['step'] for c in runs['RBF lift (8×8)']]}), in {time.perf_counter() - t0:.0f} s")


# %%
def explore(index, classifier, checkpoint):
    return margin_explorer.explore_margins(runs, data.X, data.y, index, classifier, checkpoint)


interactive_or_static(explore, {"index": first_sv, "classifier": "RBF lift (8×8)",
                                "checkpoint": n_checkpoints - 1},
                      index=(0, len(data.y) - 1, 1), classifier=list(runs),
                      checkpoint=(0, n_checkpoints - 1, 1))
