#!/usr/bin/env bash
# The two runs of README.md (one thread each, side by side), then their evaluations and figures.
# Writes under /tmp (runs, checkpoints, TensorBoard logs) and /tmp/gqps_out (tables and figures); run from the repository root.
set -e
for ps in previous updated; do
  .venv/bin/scenenb run train_gqn --profile quick --root /tmp/gqps_$ps -p steps 6000 -p num_scenes 2000 -p threads 1 \
    -p log_every 50 -p checkpoint_every 1000 -p max_minutes 55 -p config_overrides "{sigma_steps: 1000, prior_state: $ps}" \
    -p out_dir /tmp/gqps_$ps/run --quiet &
done
wait

OUT=/tmp/gqps_out; mkdir -p $OUT
# the updated run's weights evaluated with the prior read before each update (how its generate() samples)
rm -rf /tmp/gqps_updprev; mkdir -p /tmp/gqps_updprev/run/checkpoints
cp /tmp/gqps_updated/run/run.json /tmp/gqps_updprev/run/
.venv/bin/python - <<'PY'
import torch
from pathlib import Path
from scenenb.io import load_checkpoint
from scenenb.train import latest_checkpoint
src = latest_checkpoint(Path("/tmp/gqps_updated/run/checkpoints"))
state = load_checkpoint(src)
assert state["model_config"]["prior_state"] == "updated"
state["model_config"]["prior_state"] = "previous"
torch.save(state, Path("/tmp/gqps_updprev/run/checkpoints") / src.name)
print("patched", src, "step", state["step"])
PY
for r in previous updated updprev; do
  .venv/bin/scenenb run eval_gqn --profile quick --root /tmp/gqps_$r -p run_dir /tmp/gqps_$r/run -p num_scenes 64 -p num_samples 4 -p threads 2 -p out_dir $OUT -p name eval_$r --quiet
done
for r in previous updated; do
  .venv/bin/scenenb run fig_gqn_views --profile quick --root /tmp/gqps_$r -p run_dir /tmp/gqps_$r/run -p num_scenes 4 -p context_size 3 -p num_samples 4 -p threads 2 -p out_dir $OUT -p name views_$r --quiet
done
ls -la $OUT
.venv/bin/python figures/gqn_prior_state/plot_curve.py
