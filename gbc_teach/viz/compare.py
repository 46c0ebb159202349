"""The spread of the comparison over seeds (notebook 08, `gbc-teach compare`): one panel a
metric, one column of points a setting, one colour a method; each dot is a seed, the bar the mean
± one standard deviation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

PANELS = (("evaluator_accuracy", "evaluator accuracy"), ("tstr_accuracy", "train-on-synthetic acc."),
          ("ssim_recovery_share", "SSIM recovery share"), ("l2_recovery_share", "L2 recovery share"),
          ("frechet", "Fréchet (log)"), ("sv_recall", "toy: SV recall"),
          ("precision", "toy: precision"))
ORDER = ("gbc", "particles", "naive", "bnstat", "real", "train_images")


def spread_figure(records: list[dict], panels=PANELS, ncols: int = 4):
    """records: {'setting', 'method', 'metric', 'seed', 'value'} (compare.long_records)."""
    df = pd.DataFrame.from_records(records)
    if df.empty:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no runs", ha="center")
        ax.axis("off")
        return fig
    panels = [(k, t) for k, t in panels if k in set(df["metric"])]
    methods = [m for m in ORDER if m in set(df["method"])]
    palette = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, min(ncols, len(panels)), squeeze=False,
                             figsize=(3.6 * min(ncols, len(panels)), 3.2 * nrows))
    for ax, (key, title) in zip(axes.flat, panels):
        d = df[df["metric"] == key]
        hue = [m for m in methods if m in set(d["method"])]
        kw = dict(data=d, x="setting", y="value", hue="method", hue_order=hue, palette=palette,
                  ax=ax)
        sns.stripplot(**kw, dodge=True, size=4, alpha=0.6, jitter=False, legend=False)
        # the same offsets as the dots: seaborn spreads hue levels over 0.8 of a category
        sns.pointplot(**kw, dodge=0.8 - 0.8 / len(hue), errorbar="sd", linestyle="none",
                      markers="_", capsize=0.1, legend=ax is axes.flat[0])
        if key == "frechet":
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if axes.flat[0].get_legend() is not None:
        sns.move_legend(axes.flat[0], "upper left", bbox_to_anchor=(0, -0.35), ncol=3, fontsize=7,
                        title=None)
    fig.tight_layout()
    return fig
