"""GENESIS on a CPU budget: which pixel σ and GECO goal let the quick configuration separate sprites?

The quick profile's setting (the official multi_dsprites architecture, K 5, at 32×32; generated
`multi_dsprites_colored_on_colored` training scenes, seed 0; Adam, batch 16; the official GECO variant), with σ, the goal,
the learning rate, the number of scenes, the decoder's position input and the length as arguments. Every `--every` steps it evaluates on 64 generated test scenes
(seed 1000) and prints one JSON line: fg-ARI, ARI with the background, mSC, MSE, KL and GECO's β. One slot for every
pixel scores fg-ARI 0.20 on these 64 images, so separation means clearly above that.

usage: python benchmarks/genesis_quick_trials.py OUT_DIR [--sigma 0.3] [--goal gaussian|official|elbo|NUMBER]
                                                 [--lr 5e-4] [--steps 2000] [--every 500] [--threads 2] [--seed 0]
                                                 [--num-scenes 2000] [--position embedding|coords]
`--goal gaussian` (the default) is `gaussian_goal(σ)`; `official` is 0.5655, the official goal for σ 0.7; `elbo` trains
the plain ELBO instead of GECO (β fixed at 1, as EMORL's official multi_dsprites configuration does at σ 0.1).
Training resumes from OUT_DIR's checkpoints, so a stopped trial continues where it was.
"""
import argparse
import json
import time
from pathlib import Path

import torch
from torch.utils.data import Subset

from scenenb.data.datasets import GeneratedObjects
from scenenb.metrics import evaluate
from scenenb.models.genesis import OFFICIAL_GECO_GOAL, Genesis, GenesisConfig, gaussian_goal
from scenenb.io import load_checkpoint
from scenenb.train import FitConfig, fit, latest_checkpoint, make_objective

SIZE, DATA = 32, "multi_dsprites_colored_on_colored"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--sigma", type=float, default=0.3)
    p.add_argument("--goal", default="gaussian")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-scenes", type=int, default=2000, help="generated training scenes (the quick profile's until 2026-12-05: 2,000; now 20,000)")
    p.add_argument("--position", default="embedding", choices=("coords", "embedding"),
                   help="the broadcast decoder's position input: `embedding`, as every trial recorded before 2026-12-05 "
                        "(the option did not exist then), or the official `coords` (the quick profile's since then)")
    a = p.parse_args()
    goal = {"gaussian": gaussian_goal(a.sigma), "official": OFFICIAL_GECO_GOAL, "elbo": None}.get(a.goal, a.goal)
    goal = None if goal is None else float(goal)                    # None: the plain ELBO, no goal
    torch.set_num_threads(a.threads)
    train = list(GeneratedObjects(DATA, seed=0, num_scenes=a.num_scenes, size=SIZE, factors=False))
    test = list(GeneratedObjects(DATA, seed=1000, num_scenes=64, size=SIZE, factors=False))
    loss = (make_objective("elbo") if goal is None else
            make_objective("geco_genesis", goal=goal, per="element", num_elements=3 * SIZE * SIZE))
    torch.manual_seed(a.seed)
    model = Genesis(GenesisConfig.preset("multi_dsprites", image_size=SIZE, pixel_std=a.sigma,
                                                     decoder_position=a.position))
    start, done = time.time(), latest_checkpoint(Path(a.out) / "checkpoints")
    done = load_checkpoint(done)["step"] if done else 0             # a resumed trial reports only the steps it trains
    for stop in range((done // a.every + 1) * a.every, a.steps + 1, a.every):
        fit(model, Subset(train, range(len(train))), FitConfig(steps=stop, batch_size=16, lr=a.lr, seed=a.seed, device="cpu",
            log_every=50, checkpoint_every=a.every, progress="none"), objective=loss, out_dir=a.out, resume=True,
            forward=lambda net, batch: net(batch["image"]))
        s = evaluate(model, test, num_images=64, batch_size=32)
        print(json.dumps({"step": stop, "sigma": a.sigma, "scenes": a.num_scenes, "goal": None if goal is None else round(goal, 4), "seconds": round(time.time() - start),
                          **{k: round(float(s[k]), 4) for k in ("fg_ari", "ari", "msc", "mse", "kl")},
                          "beta": float(getattr(loss, "multiplier", 1.0))}), flush=True)


if __name__ == "__main__":
    main()
