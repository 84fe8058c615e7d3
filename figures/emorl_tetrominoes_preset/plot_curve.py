"""Draw curve.png of this folder: the full `tetrominoes` preset's long run, checkpoint by checkpoint.

Reads curve.jsonl (benchmarks/checkpoint_curve.py's rows: fg-ARI, MSE and KL on the first 320 generated test images)
and geco.jsonl (GECO's multiplier and constraint EMA every 100 steps, taken from the run's TensorBoard log with
`--geco TB_DIR`, which rewrites geco.jsonl before drawing).

usage, from the repository root:
    python figures/emorl_tetrominoes_preset/plot_curve.py [--geco RUN/tb]
"""
import argparse
import json
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure

from scenenb.viz import save_figure

here = Path(__file__).parent


def read_rows(path):
    return sorted((json.loads(line) for line in path.read_text().splitlines() if line.strip()), key=lambda r: r["step"])


def geco_from_tensorboard(tb_dir, out):
    "Write GECO's multiplier and constraint EMA (one row per logged step) from the run's event files to `out`."
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    ema = {e.step: e.value for e in acc.Scalars("geco/constraint_ema")}
    rows = [{"step": e.step, "multiplier": round(e.value, 4), "constraint_ema": round(ema.get(e.step, float("nan")), 5)}
            for e in acc.Scalars("geco/multiplier")]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


p = argparse.ArgumentParser()
p.add_argument("--geco", help="the run's TensorBoard folder: rewrite geco.jsonl from it first")
args = p.parse_args()
geco = geco_from_tensorboard(args.geco, here / "geco.jsonl") if args.geco else read_rows(here / "geco.jsonl")
rows = read_rows(here / "curve.jsonl")
steps = [r["step"] for r in rows]

fig = Figure(figsize=(12, 3.4))
ax_ari, ax_mse, ax_kl = fig.subplots(1, 3)
ax_ari.plot(steps, [r["fg_ari"] for r in rows], marker=".", color="C0", label="fg-ARI")
ax_ari.axhline(0.463, color="gray", ls="--", lw=1, label="random coherent partitions")
ax_ari.axhline(0.97, color="black", ls=":", lw=1, label="the issue's target (0.97)")
ax_ari.set(xlabel="step (batch 32)", ylabel="fg-ARI, 320 test images", ylim=(0, 1))
ax_ari.legend(fontsize=7, loc="upper left")
ax_mse.plot(steps, [r["mse"] for r in rows], marker=".", color="C1", label="MSE")
ax_mse.axhline(0.0515, color="gray", ls=":", lw=1, label="black everywhere")
ax_mse.set(xlabel="step (batch 32)", ylabel="MSE, 320 test images", ylim=(0, 0.055))
ax_mse.legend(fontsize=7, loc="lower left")
ax_kl.plot(steps, [r["kl"] for r in rows], marker=".", color="C2", label="KL (nats)")
ax_kl.set(xlabel="step (batch 32)", ylabel="KL, nats per image")
twin = ax_kl.twinx()
twin.plot([g["step"] for g in geco], [g["multiplier"] for g in geco], color="C3", lw=1, label="GECO multiplier")
twin.set_ylabel("GECO multiplier")
ax_kl.legend(handles=ax_kl.lines + twin.lines, fontsize=7, loc="upper left")
for ax in (ax_ari, ax_mse, ax_kl):
    ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:g}k")
fig.tight_layout()
print(save_figure(fig, here / "curve.png"))
