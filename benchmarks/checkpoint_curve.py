"""fg-ARI, mSC, ARI, MSE and KL of every GENESIS or EMORL checkpoint in a folder, on the same generated test images.

The read-out of `eval_genesis` / `eval_emorl` (scenenb.metrics.evaluate on generated test scenes of seed 1000), one
JSON line per checkpoint, appended to OUT and skipped when OUT already has that step. fit() keeps only the newest
checkpoints, so copy them aside while a run trains (e.g. `cp -n RUN/checkpoints/ckpt-*.pt FOLDER/` every 30 s) to get a
curve; `--watch SECONDS` does that copying itself from `--run RUN` and evaluates each new checkpoint as it appears,
until the run's training process has written its `run.json` after the last one.

`--refinement-iters 0 1 3 6` (EMORL) evaluates each checkpoint once per number of test-time refinement steps instead of
at the model's configured number, and each JSON line then carries `iters`: the test-time sweep behind the paper's claim
that a model trained with refinement keeps most of its decomposition with none.

usage: python benchmarks/checkpoint_curve.py FOLDER OUT [--model genesis|emorl] [--dataset NAME] [--data-preset NAME]
                                             [--num-images 128] [--test-seed 1000] [--threads 1]
                                             [--run RUN --watch 60] [--refinement-iters 0 1 3 ...]
(before 2026-11-22 this was genesis_checkpoint_curve.py, GENESIS only, with the same defaults)
"""
import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from scenenb.data.datasets import GeneratedObjects
from scenenb.io import load_checkpoint
from scenenb.metrics import evaluate

DEFAULT_DATASET = {"genesis": "multi_dsprites_colored_on_colored", "emorl": "tetrominoes"}


def evaluate_folder(a, done: set) -> None:
    "Evaluate every checkpoint in a.folder not yet in `done` ((step, iters) keys), appending one JSON line each to a.out."
    from scenenb.models.emorl import load_emorl
    from scenenb.models.genesis import load_genesis
    for path in sorted(Path(a.folder).glob("ckpt-*.pt")):
        state = load_checkpoint(path, required=("model", "model_config", "step"))
        sweep = a.refinement_iters or [None]
        if all((state["step"], i) in done for i in sweep): continue
        dataset = a.dataset or DEFAULT_DATASET[a.model]
        if a.model == "genesis":
            model = load_genesis(state)
            test = GeneratedObjects(dataset, seed=a.test_seed, num_scenes=a.num_images, size=model.config.image_size, factors=False)
        else:
            model = load_emorl(state)
            test = GeneratedObjects(dataset, seed=a.test_seed, num_scenes=a.num_images, preset=a.data_preset, factors=False)
        for iters in sweep:
            if (state["step"], iters) in done: continue
            torch.manual_seed(a.test_seed)
            s = evaluate(model, test, num_images=a.num_images, batch_size=32, device="cpu", background_entities=test.background,
                         refinement_iters=iters)
            record = dict(step=state["step"], **({} if iters is None else {"iters": iters}),
                          **{k: round(s[k], 3) for k in ("fg_ari", "msc", "ari")}, mse=round(s["mse"], 4), kl=round(s["kl"], 1))
            print(json.dumps(record), flush=True)
            with Path(a.out).open("a") as f: f.write(json.dumps(record) + "\n")
            done.add((state["step"], iters))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("out")
    p.add_argument("--model", default="genesis", choices=("genesis", "emorl"))
    p.add_argument("--dataset", help="generator name (default: multi_dsprites_colored_on_colored for GENESIS, tetrominoes for EMORL)")
    p.add_argument("--data-preset", default="emorl_tetrominoes", help="EMORL: the loader preset (scenenb.models.emorl.PRESET_DATA)")
    p.add_argument("--num-images", type=int, default=128)
    p.add_argument("--test-seed", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--run", help="with --watch: the training run's out_dir, whose checkpoints/ are copied into FOLDER")
    p.add_argument("--watch", type=float, help="poll every this many seconds until the run has finished")
    p.add_argument("--refinement-iters", type=int, nargs="+", help="EMORL: evaluate at each of these numbers of test-time refinement steps")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    if a.refinement_iters and a.model != "emorl": p.error("--refinement-iters is for EMORL checkpoints")
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    done = {(r["step"], r.get("iters")) for r in records}
    if not a.watch:
        evaluate_folder(a, done)
        return
    if not a.run: p.error("--watch needs --run")
    Path(a.folder).mkdir(parents=True, exist_ok=True)
    started = time.time()
    while True:
        finished = (Path(a.run) / "run.json").exists() and (Path(a.run) / "run.json").stat().st_mtime > started
        for ckpt in sorted((Path(a.run) / "checkpoints").glob("ckpt-*.pt")):
            target = Path(a.folder) / ckpt.name
            if not target.exists():
                shutil.copy2(ckpt, target.with_suffix(".tmp")); target.with_suffix(".tmp").rename(target)
        evaluate_folder(a, done)
        if finished: return
        time.sleep(a.watch)


if __name__ == "__main__":
    main()
