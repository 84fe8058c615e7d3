"""Write a release of the quick EMORL from a CPU run of figures/emorl_quick_long (float32).

Two recipes, named on the command line:

- `geco` → emorl_quick_tetrominoes_cpu40k: the 80-minute run with the official GECO (RUN=/tmp/emorl_long/runs/quick by
  default; its evaluation figures/emorl_quick_long/eval.json).
- `sigma007` → emorl_quick_sigma007_tetrominoes_cpu<N>k: the quick profile's own setting (plain ELBO at σ 0.07), trained
  on for 114 minutes (RUN=/tmp/long07/runs/quick by default; its evaluation figures/emorl_quick_long/eval_quick_long.json).

Each needs that run's folder (the commands are in figures/emorl_quick_long/README.md) with its last checkpoint. Run from
the repository root: RUN=... python weights/release_emorl_quick.py geco|sigma007
"""
import json
import os
import sys

from pathlib import Path

from scenenb.io import load_checkpoint, save_release
from scenenb.train import latest_checkpoint

SMALL = dict(latent_dim=16, feature_dim=32, hidden_dim=64, init="torch")
RECIPES = {
    "geco": dict(
        name="emorl_quick_tetrominoes_cpu{k}k", run="/tmp/emorl_long/runs/quick", eval="eval.json",
        parameters=dict(profile="quick", steps=60000, num_scenes=20000, max_minutes=80, log_every=100, objective="geco",
                        config_overrides=SMALL),
        notes=("The quick profile's small EMORL (z 16, features 32, hidden 64, no refinement, PyTorch's initialisation) "
               "trained on a 2-core CPU with the official GECO (target -1.224 per element, warm start 1,000) instead of "
               "the quick profile's plain ELBO; see figures/emorl_quick_long/README.md. Not a reproduction of the paper's "
               "setting.")),
    "sigma007": dict(
        name="emorl_quick_sigma007_tetrominoes_cpu{k}k", run="/tmp/long07/runs/quick", eval="eval_quick_long.json",
        parameters=dict(profile="quick", steps=60000, max_minutes=[90, 24]),
        notes=("The quick profile as it is (small EMORL: z 16, features 32, hidden 64, no refinement, PyTorch's "
               "initialisation; plain ELBO at σ 0.07; 20,000 generated scenes; batch 16; seed 0) trained on past its "
               "6,000 steps on a 2-core CPU, in two calls of 90 and 24 minutes (the second a resume); see "
               "figures/emorl_quick_long/README.md, 'The quick profile, trained on'. Not a reproduction of the paper's "
               "setting.")),
}

choice = sys.argv[1] if len(sys.argv) > 1 else "geco"
if choice not in RECIPES: raise SystemExit(f"unknown recipe {choice!r}: expected one of {', '.join(RECIPES)}")
recipe = RECIPES[choice]
run_dir = Path(os.environ.get("RUN", recipe["run"])) / "emorl_tetrominoes"
state = load_checkpoint(latest_checkpoint(run_dir / "checkpoints"), required=("model", "model_config", "step"))
run = json.loads((run_dir / "run.json").read_text())
run = {k: v for k, v in run.items() if k not in ("history", "checkpoint")}
ev = json.loads((Path("figures/emorl_quick_long") / recipe["eval"]).read_text())
keys = ("fg_ari", "ari", "msc", "mse", "kl")
card = dict(
    name=recipe["name"].format(k=int(state["step"]) // 1000), model="scenenb.models.emorl.EMORL",
    config=state["model_config"],
    training_data="20,000 scenes of scenenb's generated Tetrominoes (seed 0, 35x35, 3 pieces on black); not DeepMind's data",
    steps=int(state["step"]),
    metrics={"evaluation": "eval_emorl on the first 320 generated test images (test seed 1000), no refinement steps",
             **{k: round(float(ev[k]), 6) for k in keys if k in ev}},
    experiment="nbs/experiments/train_emorl.ipynb",
    parameters=recipe["parameters"],
    run=run, stored_dtype="float32",
    notes=recipe["notes"],
)
path = save_release(state["model"], card)
print(path, path.stat().st_size)
