"""Learning curves of EfficientMORL's official code and scenenb's `EMORL`, side by side on the same generated Tetrominoes.

Does the official model segment earlier than ours? Both sides train the tetrominoes preset (K 4, z 32, small decoder,
Gaussian σ 0.3, L 3 stochastic layers, I 3 refinement steps) on the same `--train` generated scenes (seed 0) in the same
order of batches, with the official objective without GECO (Σ_i w_i (nll_i + kl_i), as `benchmarks/emorl_step.py`), Adam
at a constant `--lr` (no warm-up, so both move from the first step), gradient norm clipped at 5 (official), one thread.
Every `--every` steps: fg-ARI, mSC and MSE of the final step on the first `--test` generated test scenes (seed 1000, the
first 320 as the paper evaluates), printed as one JSON line and appended to `OUT/curve.jsonl`.

Long runs are resumable: at every read-out the model, optimiser, step and random state go to `OUT/state.pt` (written to a
temporary file, then renamed), and a second call with the same `OUT` carries on from there.

The official model is built by `emorl_step.build` from an extraction outside the repository (`--official PATH`); its batch
size is baked into its positional tensors, so its read-out runs in chunks of `--batch` images (`--test` must be a multiple).

Ours is built with the model's defaults (the official initialisation and batch-mean refinement gradient, which make it
compute the official network: benchmarks/emorl_parity.md) unless `--init torch` / `--refinement-grad per_image` ask for
what scenenb did before 2026-12-04.

usage: python benchmarks/emorl_side_curve.py official|ours OUT [--steps 2000] [--every 250] [--train 4000] [--test 320]
       [--batch 32] [--lr 4e-4] [--official .refs/emorl_official] [--init official|torch]
       [--refinement-grad batch_mean|per_image]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emorl_step  # noqa: E402

from scenenb.data.datasets import GeneratedObjects  # noqa: E402
from scenenb.metrics import fg_ari, msc, mse  # noqa: E402


def scenes_tensor(seed: int, n: int):
    "Images [n, 3, 35, 35] in [0, 1] and integer masks of `n` generated Tetrominoes scenes."
    scenes = list(GeneratedObjects("tetrominoes", seed=seed, num_scenes=n, factors=False))
    return torch.stack([s["image"] for s in scenes]), torch.stack([s["mask"] for s in scenes]).long()


def final_step(impl: str, model, forward, images):
    "Masks [B, K, 1, H, W] and reconstruction [B, 3, H, W] of the last inference step."
    if impl == "official":   # its refinement takes gradients even in eval mode, so no torch.no_grad here
        out = forward(images)
        last = max(int(k.split("_")[1]) for k in out if k.startswith("means_"))
        masks = out[f"masks_{last}"].exp().detach()
        return masks, (masks * out[f"means_{last}"].detach()).sum(1)
    with torch.no_grad(): out = model(images)
    return out.masks.detach(), out.recon.detach()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("impl", choices=("official", "ours"))
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--train", type=int, default=4000)
    p.add_argument("--test", type=int, default=320)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--official", default=".refs/emorl_official")
    p.add_argument("--init", default="official", choices=("official", "torch"))
    p.add_argument("--refinement-grad", default="batch_mean", choices=("batch_mean", "per_image"))
    a = p.parse_args()
    if a.test % a.batch: p.error(f"--test {a.test} must be a multiple of --batch {a.batch} (the official model's batch is fixed)")
    torch.set_num_threads(1); torch.manual_seed(0)
    os.makedirs(a.out, exist_ok=True)
    train_x, _ = scenes_tensor(0, a.train)
    test_x, test_y = scenes_tensor(1000, a.test)
    model, loss_fn, forward = emorl_step.build(a.impl, "tetrominoes", a.batch, a.official,
                                               ours=dict(init=a.init, refinement_grad=a.refinement_grad))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    order = torch.Generator().manual_seed(0)
    step, seconds, state_path, resumed = 0, 0.0, os.path.join(a.out, "state.pt"), None
    if os.path.exists(state_path):
        s = torch.load(state_path, weights_only=False)
        model.load_state_dict(s["model"]); opt.load_state_dict(s["opt"]); order.set_state(s["order"])
        torch.set_rng_state(s["rng"]); step, seconds = s["step"], s["seconds"]; resumed = step
        print(f"resumed {a.impl} at step {step} from {state_path}", file=sys.stderr)

    def readout():
        model.eval()
        parts = [final_step(a.impl, model, forward, test_x[i:i + a.batch]) for i in range(0, a.test, a.batch)]
        model.train()
        masks, recon = torch.cat([m for m, _ in parts]).float(), torch.cat([r for _, r in parts])
        return dict(impl=a.impl, step=step, fg_ari=round(float(fg_ari(test_y, masks).mean()), 3),
                    msc=round(float(msc(test_y, masks).mean()), 3), mse=round(float(mse(test_x, recon).mean()), 4),
                    train_seconds=round(seconds))

    while True:
        if (step % a.every == 0 or step == a.steps) and step != resumed:   # a resumed step was read out before
            line = json.dumps(readout())
            print(line, flush=True)
            with open(os.path.join(a.out, "curve.jsonl"), "a") as f: f.write(line + "\n")
            torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), order=order.get_state(), rng=torch.get_rng_state(),
                            step=step, seconds=seconds), state_path + ".tmp")
            os.replace(state_path + ".tmp", state_path)
        if step >= a.steps: break
        t0 = time.perf_counter()
        batch = train_x[torch.randint(a.train, (a.batch,), generator=order)]
        opt.zero_grad(set_to_none=True); loss = loss_fn(batch); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0); opt.step()
        if not torch.isfinite(loss): raise SystemExit(f"{a.impl}: non-finite loss at step {step}")
        seconds += time.perf_counter() - t0; step += 1


if __name__ == "__main__":
    main()
