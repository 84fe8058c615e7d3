"""curve.png: KL and posterior-reconstruction MSE of the two training runs of README.md, from their TensorBoard logs.

usage: python figures/gqn_prior_state/plot_curve.py [RUN_ROOT]   (default /tmp: reads /tmp/gqps_{previous,updated}/run/tb)
The MSE is recovered from the logged NLL at the logged σ: nll = D·(log σ + ½ log 2π) + ||x − μ||² / (2σ²), D = 3·32·32."""
import math
import sys
from pathlib import Path

from matplotlib.figure import Figure

from scenenb.train.logging import read_scalars
from scenenb.viz import save_figure

root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp")
D = 3 * 32 * 32
fig = Figure(figsize=(8, 3)); ax_kl, ax_mse = fig.subplots(1, 2)
for name, colour in (("previous", "tab:blue"), ("updated", "tab:red")):
    rows = [r for r in read_scalars(root / f"gqps_{name}" / "run" / "tb") if "kl" in r]
    steps = [r["step"] for r in rows]
    mse = [2 * r["hparam/sigma"] ** 2 * (r["nll"] / D - math.log(r["hparam/sigma"]) - 0.5 * math.log(2 * math.pi)) for r in rows]
    label = f"prior_state={name!r}"
    ax_kl.plot(steps, [r["kl"] for r in rows], color=colour, lw=0.8, label=label)
    ax_mse.plot(steps, mse, color=colour, lw=0.8, label=label)
ax_kl.set_ylabel("KL in the training loss (nats/image)"); ax_mse.set_ylabel("posterior reconstruction MSE (batch)")
for ax in (ax_kl, ax_mse): ax.set_xlabel("step"); ax.legend(fontsize=7)
ax_mse.set_ylim(0, 0.03)
fig.tight_layout()
print(save_figure(fig, Path(__file__).with_name("curve.png"), dpi=110))
