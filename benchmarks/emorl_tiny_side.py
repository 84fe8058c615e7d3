"""The tiny-overfit question, asked of both implementations: EfficientMORL's official code and scenenb's `EMORL`,
trained side by side on the same 8 generated Tetrominoes, and where each is after a few hundred steps.

Both sides: the tetrominoes preset (K 4, z 32, small decoder, Gaussian σ 0.3, L 3 stochastic layers, I 3 refinement
steps), batch 8 (all 8 images every step), Adam 4e-4 (the official learning rate, no warm-up), gradient norm clipped at
5 (official), the official objective without GECO (Σ_i w_i (nll_i + kl_i), as `benchmarks/emorl_step.py`), one thread,
seed 0. Every `--every` steps: fg-ARI of the final-step masks against the true masks and the MSE of the final
reconstruction, on the 8 training images. Predicting black everywhere gives MSE 0.0515 on these images.

The official model is built by `emorl_step.build` from an extraction outside the repository (`--official PATH`), with
the same stand-ins for its `sacred`/`scipy` imports; its decoder means are in [0, 1] and its input in [-1, 1].

usage: python benchmarks/emorl_tiny_side.py official|ours [--steps 600] [--every 100] [--official /tmp/emorl_official]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emorl_step  # noqa: E402
from emorl_side_curve import final_step  # noqa: E402

from scenenb.data.datasets import GeneratedObjects  # noqa: E402
from scenenb.metrics import fg_ari, mse  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("impl", choices=("official", "ours"))
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--official", default="/tmp/emorl_official")
    a = p.parse_args()
    torch.set_num_threads(1); torch.manual_seed(0)
    scenes = list(GeneratedObjects("tetrominoes", seed=0, num_scenes=8, factors=False))
    images = torch.stack([s["image"] for s in scenes]); truth = torch.stack([s["mask"] for s in scenes]).long()
    model, loss_fn, forward = emorl_step.build(a.impl, "tetrominoes", 8, a.official)
    opt = torch.optim.Adam(model.parameters(), lr=4e-4)

    def readout():
        masks, recon = final_step(a.impl, model, forward, images)
        return float(fg_ari(truth, masks.float()).mean()), float(mse(images, recon).mean())

    start = time.time()
    for step in range(a.steps + 1):
        if step % a.every == 0 or step == a.steps:
            model.eval(); ari, err = readout(); model.train()
            print(json.dumps(dict(impl=a.impl, step=step, fg_ari=round(ari, 3), mse=round(err, 4), seconds=round(time.time() - start))),
                  flush=True)
        if step == a.steps: break
        opt.zero_grad(); loss = loss_fn(images); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0); opt.step()


if __name__ == "__main__":
    main()
