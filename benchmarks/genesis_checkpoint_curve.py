"""fg-ARI, mSC, ARI, MSE and KL of every GENESIS checkpoint in a folder, on the same generated test images.

The read-out of `eval_genesis` (scenenb.metrics.evaluate on generated test scenes of seed 1000), one JSON line per
checkpoint, appended to OUT and skipped when OUT already has that step. fit() keeps only the newest checkpoints, so copy
them aside while a run trains (e.g. `cp -n RUN/checkpoints/ckpt-*.pt FOLDER/` every 30 s) to get a curve.

usage: python benchmarks/genesis_checkpoint_curve.py FOLDER OUT [--dataset multi_dsprites_colored_on_colored]
                                                     [--num-images 128] [--test-seed 1000] [--threads 1]
"""
import argparse
import json
from pathlib import Path

import torch

from scenenb.data.datasets import GeneratedObjects
from scenenb.io import load_checkpoint
from scenenb.metrics import evaluate
from scenenb.models.genesis import load_genesis


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("out")
    p.add_argument("--dataset", default="multi_dsprites_colored_on_colored")
    p.add_argument("--num-images", type=int, default=128)
    p.add_argument("--test-seed", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    done = {json.loads(line)["step"] for line in out.read_text().splitlines()} if out.exists() else set()
    for path in sorted(Path(a.folder).glob("ckpt-*.pt")):
        state = load_checkpoint(path, required=("model", "model_config", "step"))
        if state["step"] in done: continue
        model = load_genesis(state)
        test = GeneratedObjects(a.dataset, seed=a.test_seed, num_scenes=a.num_images, size=model.config.image_size, factors=False)
        torch.manual_seed(a.test_seed)
        s = evaluate(model, test, num_images=a.num_images, batch_size=32, device="cpu")
        record = dict(step=state["step"], **{k: round(s[k], 3) for k in ("fg_ari", "msc", "ari")}, mse=round(s["mse"], 4),
                      kl=round(s["kl"], 1))
        print(json.dumps(record), flush=True)
        with out.open("a") as f: f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
