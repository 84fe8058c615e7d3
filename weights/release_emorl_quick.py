"""Write weights/emorl_quick_tetrominoes_cpu40k: the CPU run of figures/emorl_quick_long (the quick EMORL, GECO, float32).

Needs that run's folder (the commands are in figures/emorl_quick_long/README.md): RUN=/tmp/emorl_long/runs/quick by
default, its last checkpoint and its evaluation figures/emorl_quick_long/eval.json. Run from the repository root:
RUN=... python weights/release_emorl_quick.py
"""
import json
import os
from pathlib import Path

from scenenb.io import load_checkpoint, save_release
from scenenb.train import latest_checkpoint

run_dir = Path(os.environ.get("RUN", "/tmp/emorl_long/runs/quick")) / "emorl_tetrominoes"
state = load_checkpoint(latest_checkpoint(run_dir / "checkpoints"), required=("model", "model_config", "step"))
run = json.loads((run_dir / "run.json").read_text())
run = {k: v for k, v in run.items() if k not in ("history", "checkpoint")}
ev = json.loads(Path("figures/emorl_quick_long/eval.json").read_text())
keys = ("fg_ari", "ari", "msc", "mse", "kl")
card = dict(
    name=f"emorl_quick_tetrominoes_cpu{int(state['step']) // 1000}k", model="scenenb.models.emorl.EMORL",
    config=state["model_config"],
    training_data="20,000 scenes of scenenb's generated Tetrominoes (seed 0, 35x35, 3 pieces on black); not DeepMind's data",
    steps=int(state["step"]),
    metrics={"evaluation": "eval_emorl on the first 320 generated test images (test seed 1000), no refinement steps",
             **{k: round(float(ev[k]), 6) for k in keys if k in ev}},
    experiment="nbs/experiments/train_emorl.ipynb",
    parameters=dict(profile="quick", steps=60000, num_scenes=20000, max_minutes=80, log_every=100, objective="geco",
                    config_overrides=dict(latent_dim=16, feature_dim=32, hidden_dim=64, init="torch")),
    run=run, stored_dtype="float32",
    notes=("The quick profile's small EMORL (z 16, features 32, hidden 64, no refinement, PyTorch's initialisation) trained "
           "on a 2-core CPU with the official GECO (target -1.224 per element, warm start 1,000) instead of the quick "
           "profile's plain ELBO; see figures/emorl_quick_long/README.md. Not a reproduction of the paper's setting."),
)
path = save_release(state["model"], card)
print(path, path.stat().st_size)
