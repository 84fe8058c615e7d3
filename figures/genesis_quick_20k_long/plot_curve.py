"""Draw curve.png of this folder from curve.jsonl (benchmarks/checkpoint_curve.py's output, 320 test images) and train_log.jsonl.

GENESIS's quick profile (the official Multi-dSprites architecture at 32×32, σ 0.3 with GECO, 20,000 generated scenes,
batch 16) trained on past its 3,000 steps on this 2-core CPU. Left: the segmentation scores, with the position-only
chance rows of the same 320 test images and, dotted, the official README's numbers for its released 64×64 checkpoint
(a different setting, drawn only as the mark the GPU run aims at). Middle: reconstruction error on the test images.
Right: what GECO did during training (train_log.jsonl, every 50th step of the run's history): its multiplier β on the KL
and the training batch's KL, both on a log scale.

usage, from the repository root: python figures/genesis_quick_20k_long/plot_curve.py [RUN/run.json]
(given the run's run.json, it first rewrites train_log.jsonl from the run's history)
"""
import json
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure

from scenenb.viz import save_figure

here = Path(__file__).parent
read_jsonl = lambda name: [json.loads(line) for line in (here / name).read_text().splitlines() if line.strip()]
if len(sys.argv) > 1:
    history = json.loads(Path(sys.argv[1]).read_text())["history"]
    lines = [json.dumps({"step": r["step"], "nll": round(r["nll"], 2), "kl": round(r["kl"], 2), "beta": float(f"{r['geco/multiplier']:.4g}"),
                         "err_ema": round(r["geco/err_ema"], 2)}) for r in history if r["step"] % 50 == 0]
    (here / "train_log.jsonl").write_text("\n".join(lines) + "\n")
chance = json.loads((here / "eval.json").read_text())     # eval_genesis's table: the chance rows of the same images
rows = sorted(read_jsonl("curve.jsonl"), key=lambda r: r["step"])
steps = [r["step"] for r in rows]
log = read_jsonl("train_log.jsonl")

fig = Figure(figsize=(14, 3.8))
ax_seg, ax_rec, ax_geco = fig.subplots(1, 3)
for key, label, colour in (("fg_ari", "fg-ARI", "C0"), ("msc", "mSC (foreground)", "C1"), ("ari", "ARI with the background", "C2")):
    ax_seg.plot(steps, [r[key] for r in rows], marker=".", color=colour, label=label)
ax_seg.axhline(chance["fg_ari_coherent"], color="C0", ls="--", lw=1, label="fg-ARI of random coherent partitions")
ax_seg.axhline(chance["msc_coherent"], color="C1", ls="--", lw=1, label="mSC of random coherent partitions")
ax_seg.axhline(0.57, color="C0", ls=":", lw=1, label="official checkpoint, 64², fg-ARI 0.57")
ax_seg.axhline(0.69, color="C1", ls=":", lw=1, label="official checkpoint, 64², mSC 0.69")
ax_seg.set(xlabel="step (batch 16)", ylabel="score, 320 test images", ylim=(0, 1))
ax_seg.legend(fontsize=6.5, loc="lower right")
ax_rec.plot(steps, [r["mse"] for r in rows], marker=".", color="C3")
ax_rec.set(xlabel="step (batch 16)", ylabel="MSE, 320 test images", ylim=(0, None))
ax_geco.semilogy([r["step"] for r in log], [r["beta"] for r in log], color="C5", label="GECO β (multiplier on the KL)")
ax_geco.semilogy([r["step"] for r in log], [r["kl"] for r in log], color="C4", label="KL of the training batch (nats)")
ax_geco.set(xlabel="step (batch 16)")
ax_geco.legend(fontsize=7, loc="center left")
fig.tight_layout()
print(save_figure(fig, here / "curve.png"))
