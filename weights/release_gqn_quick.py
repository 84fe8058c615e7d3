"""Write weights/gqn_quick_rooms_cpu20k: the 20,000-step CPU run of figures/gqn_quick, stored as float16.

Needs that run's folder, runs/gqn_quick_cpu/run (the training commands are in figures/gqn_quick/README.md), and its
evaluation, figures/gqn_quick/eval.json. Run from the repository root: python weights/release_gqn_quick.py
"""
import json
import torch
from scenenb.io import load_checkpoint, save_release
ckpt = "runs/gqn_quick_cpu/run/checkpoints/ckpt-00020000.pt"
state = load_checkpoint(ckpt, required=("model", "model_config", "step"))
run = json.load(open("runs/gqn_quick_cpu/run/run.json"))
run = {k: v for k, v in run.items() if k not in ("history", "checkpoint")}
ev = json.load(open("figures/gqn_quick/eval.json"))
metrics = {f"context_{r['context_size']}": {k: round(r[k], 5) for k in ("elbo_nats", "bits_per_dim", "kl", "mse_prior", "mse_posterior", "mse_context_mean")}
           for r in ev["results"]}
card = dict(
    name="gqn_quick_rooms_cpu20k", model="scenenb.models.gqn.GQN", config=state["model_config"],
    training_data="2,000 scenes of scenenb's generated rooms_ring_camera (seed 0, 10 views each, 32x32); not DeepMind's data",
    steps=int(state["step"]),
    metrics={"evaluation": "eval_gqn on 64 held-out generated scenes (test seed 1000), 4 prior samples each, float32 weights",
             **metrics},
    experiment="nbs/experiments/train_gqn.ipynb",
    parameters=dict(preset="quick", dataset="rooms_ring_camera", num_scenes=2000, steps=20000, threads=1, log_every=10,
                    checkpoint_every=250, image_every=250, config_overrides={"sigma_steps": 1000}),
    run=run, stored_dtype="float16",
    notes=("A CPU run of the small quick configuration (5.6M parameters), resumed in five pieces, 8,293 s of training on one "
           "thread; see figures/gqn_quick/README.md. Stored as float16 to stay under the 20 MB release limit (11 MB instead "
           "of 22 MB); load_state_dict copies the values into the model's float32 parameters. eval_gqn run on these float16 weights "
           "(-p weights gqn_quick_rooms_cpu20k) printed the same table as the float32 checkpoint, to every printed digit. "
           "Not a reproduction of the paper."),
)
half = {k: (v.half() if v.is_floating_point() else v) for k, v in state["model"].items()}
path = save_release(half, card)
print(path, path.stat().st_size)
