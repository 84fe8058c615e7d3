"""Draw curve.png of this folder from the curve_*.jsonl files (benchmarks/checkpoint_curve.py's output).

Six runs of the quick model on 20,000 generated scenes: the official GECO (seed 0), the plain ELBO at the preset's
σ 0.3 (seed 0), the plain ELBO at σ 0.07 from the first step (seeds 0, 1 and 2), and the quick profile itself (σ 0.07,
seed 0) trained on for 114 minutes (90 + 24, a resume), to step 39,999.

usage, from the repository root: python figures/emorl_quick_long/plot_curve.py
"""
import json
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure

from scenenb.viz import save_figure

here = Path(__file__).parent
runs = {"GECO (official target, from step 1,000)": ("curve_geco.jsonl", "C0", "-"),
        "ELBO, σ 0.3 (the preset's)": ("curve_elbo.jsonl", "C1", "-"),
        "ELBO, σ 0.07, seed 0": ("curve_sigma007_seed0.jsonl", "C2", "-"),
        "ELBO, σ 0.07, seed 1": ("curve_sigma007_seed1.jsonl", "C2", "--"),
        "ELBO, σ 0.07, seed 2": ("curve_sigma007_seed2.jsonl", "C2", ":"),
        "quick profile (σ 0.07, seed 0), long": ("curve_quick_long.jsonl", "C3", "-")}
fig = Figure(figsize=(10, 3.6))
ax_ari, ax_mse = fig.subplots(1, 2)
for label, (name, colour, style) in runs.items():
    rows = sorted((json.loads(line) for line in (here / name).read_text().splitlines() if line.strip()), key=lambda r: r["step"])
    steps = [r["step"] for r in rows]
    ax_ari.plot(steps, [r["fg_ari"] for r in rows], marker=".", color=colour, ls=style, label=label)
    ax_mse.plot(steps, [r["mse"] for r in rows], marker=".", color=colour, ls=style, label=label)
ax_ari.axhline(0.47, color="gray", ls="--", lw=1, label="random coherent partitions (4 cells)")
ax_ari.axhline(0.97, color="black", ls=":", lw=1, label="the EMORL issue's GPU target (0.97)")
ax_mse.axhline(0.0515, color="gray", ls=":", lw=1, label="black everywhere")
ax_ari.set(xlabel="step (batch 16)", ylabel="fg-ARI, 320 test images", ylim=(0, 1))
ax_mse.set(xlabel="step (batch 16)", ylabel="MSE, 320 test images", ylim=(0, 0.055))
ax_ari.legend(fontsize=7, loc="lower right"); ax_mse.legend(fontsize=7, loc="lower left")
fig.tight_layout()
print(save_figure(fig, here / "curve.png"))
