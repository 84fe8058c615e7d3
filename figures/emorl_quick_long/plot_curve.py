"""Draw curve.png of this folder from curve_geco.jsonl and curve_elbo.jsonl (benchmarks/checkpoint_curve.py's output).

usage, from the repository root: python figures/emorl_quick_long/plot_curve.py
"""
import json
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure

from scenenb.viz import save_figure

here = Path(__file__).parent
runs = {"GECO (official target, from step 1,000)": "curve_geco.jsonl", "plain ELBO (the quick profile's objective)": "curve_elbo.jsonl"}
fig = Figure(figsize=(9, 3.2))
ax_ari, ax_mse = fig.subplots(1, 2)
for label, name in runs.items():
    rows = [json.loads(line) for line in (here / name).read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    ax_ari.plot(steps, [r["fg_ari"] for r in rows], marker=".", label=label)
    ax_mse.plot(steps, [r["mse"] for r in rows], marker=".", label=label)
ax_ari.axhline(0.47, color="gray", ls="--", lw=1, label="random coherent partitions (4 cells)")
ax_mse.axhline(0.0515, color="gray", ls=":", lw=1, label="black everywhere")
ax_ari.set(xlabel="step (batch 16)", ylabel="fg-ARI, 320 test images", ylim=(0, 1))
ax_mse.set(xlabel="step (batch 16)", ylabel="MSE, 320 test images", ylim=(0, 0.055))
ax_ari.legend(fontsize=7, loc="lower right"); ax_mse.legend(fontsize=7, loc="lower left")
fig.tight_layout()
print(save_figure(fig, here / "curve.png"))
