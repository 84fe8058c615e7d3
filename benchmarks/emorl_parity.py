"""Is scenenb's `EMORL` the official EfficientMORL network? Same weights, same noise, same images: compare every output.

The official model (an extracted checkout given as `--official PATH`, built by `emorl_step.build` with its stand-ins for
`sacred`/`scipy`) is initialised as its code does; its state dict is saved as the official training script saves
checkpoints (`{"step", "kl_beta", "model", "model_opt"}`) and loaded into our `EMORL` by
`scenenb.models.emorl.load_official_emorl`, the path a user takes with a released checkpoint. Both then run on the same generated Tetrominoes with the same standard-normal draws: ours takes them
as `noise`, the official code gets them by replacing `torch.distributions.normal._standard_normal` with a function that
hands out the same draws in the order it asks for them (initial slots, layer samples, prior samples, refinement
samples — the same order as ours). Compared: the masks and component means of every step, the loss, the final NLL and
KL, and the gradient of the loss with respect to every parameter (mapped back through `port_official_state`). The way
back is checked too: `official_state_dict` of the loaded model goes into a second official model (strict loading), and
every tensor must equal the original's.

Two weight settings, because the official initialisation (Xavier-normal with gain 0.02, so nearly zero weights) makes
some quantities nearly vanish: `init` (the official initialisation as it is) and `perturbed` (those weights plus
N(0, 0.05²) noise, so that every path carries signal).

`--update gru` and `--prior reversed|bottom_up` compare the ablations (the official `use_DualGRU`, `bottom_up_prior` and
`reverse_prior_plusplus` switches). `--check` exits with an error unless masks and means agree to 1e-4 and the gradients to a relative 1e-4 overall.

usage: python benchmarks/emorl_parity.py [--official .refs/emorl_official] [--preset tetrominoes] [--batch 4]
       [--mode train|eval] [--update dual_gru|gru] [--prior reversed_plusplus|reversed|bottom_up]
       [--refinement-grad batch_mean|per_image] [--check]
"""
import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emorl_step  # noqa: E402

from scenenb.data.datasets import GeneratedObjects  # noqa: E402

from parity import Draws  # noqa: E402


def diff(a, b) -> str:
    a, b = a.detach().double(), b.detach().double()
    return f"max |Δ| {float((a - b).abs().max()):.2e} (scale {float(b.abs().max()):.2e})"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", default=".refs/emorl_official")
    p.add_argument("--preset", default="tetrominoes", choices=sorted(emorl_step.OFFICIAL_NET))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--mode", default="train", choices=("train", "eval"))
    p.add_argument("--update", default="dual_gru", choices=("dual_gru", "gru"))
    p.add_argument("--prior", default="reversed_plusplus", choices=("reversed_plusplus", "reversed", "bottom_up"))
    p.add_argument("--refinement-grad", default="batch_mean", choices=("batch_mean", "per_image"),
                   help="ours only: per_image differs from the official code through LayerNorm's epsilon (see the notebook)")
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    torch.manual_seed(0)
    net = dict(use_DualGRU=a.update == "dual_gru", bottom_up_prior=a.prior == "bottom_up",
               reverse_prior_plusplus=a.prior == "reversed_plusplus")
    official, _, _ = emorl_step.build("official", a.preset, a.batch, a.official, net=net)
    from scenenb.models.emorl import load_official_emorl, official_state_dict
    path, worst = os.path.join(tempfile.mkdtemp(), f"emorl-{a.preset}.pth"), 0.0
    C, H, W = emorl_step.OFFICIAL_NET[a.preset]["input_size"]
    dataset = {"tetrominoes": "tetrominoes", "multi_dsprites": "multi_dsprites_colored_on_grayscale", "clevr6": "clevr6"}[a.preset]
    scenes = list(GeneratedObjects(dataset, seed=0, num_scenes=a.batch, factors=False, size=(H, W)))
    images = torch.stack([s["image"] for s in scenes])
    cfg = load_official_emorl({"model": official.state_dict()}, a.preset).config
    noise = torch.randn(a.batch, cfg.num_slots, 2 * cfg.stochastic_layers + cfg.refinement_iters, cfg.latent_dim)
    for setting in ("init", "perturbed"):
        if setting == "perturbed":
            with torch.no_grad():
                for name, t in official.named_parameters():
                    if t.requires_grad: t.add_(torch.randn_like(t) * 0.05)
        torch.save({"step": 0, "kl_beta": 1.0, "model": official.state_dict(), "model_opt": {}}, path)
        ours = load_official_emorl(path, a.preset, prior=a.prior, refinement_grad=a.refinement_grad)
        back = official_state_dict(ours)   # and back: the official module takes our export as it is, with every tensor equal
        official_copy, _, _ = emorl_step.build("official", a.preset, a.batch, a.official, net=net)
        official_copy.load_state_dict(back)
        if not all(torch.equal(x, y) for x, y in zip(official_copy.state_dict().values(), official.state_dict().values())):
            raise SystemExit("official_state_dict(load_official_emorl(state)) is not the official state")
        official.train(a.mode == "train"); ours.train(a.mode == "train")
        official.zero_grad(); ours.zero_grad()
        draws = [noise[:, :, j].reshape(-1, cfg.latent_dim) for j in range(noise.shape[2])]
        patch = Draws(draws)
        saved = torch.distributions.normal._standard_normal
        torch.distributions.normal._standard_normal = patch
        try:
            theirs = official(images * 2 - 1, None, 0, 1.0)
        finally:
            torch.distributions.normal._standard_normal = saved
        mine = ours(images, noise=noise)
        print(f"## {setting} ({a.preset}, {a.update}, prior {a.prior}, batch {a.batch}, {a.mode} mode; official used {patch.used} of {len(draws)} draws)")
        L = cfg.stochastic_layers
        for i, step in enumerate(mine.steps):
            key = L - 1 + i
            print(f"step {i}: masks {diff(step.masks, theirs[f'masks_{key}'].exp())}; "
                  f"means {diff(step.components, theirs[f'means_{key}'])}")
            worst = max(worst, float((step.masks - theirs[f"masks_{key}"].exp().detach()).abs().max()),
                        float((step.components - theirs[f"means_{key}"].detach()).abs().max()))
        print(f"final nll: ours {float(mine.final_nll.mean().detach()):.6f} official {float(theirs['nll'].detach()):.6f}; "
              f"final kl: ours {float(mine.final_kl.mean().detach()):.6f} official {float(theirs['kl'].detach()):.6f}")
        loss = (mine.nll + mine.kl).mean()
        print(f"loss: ours {float(loss.detach()):.6f} official {float(theirs['total_loss'].detach()):.6f}")
        if a.mode == "train":
            loss.backward(); theirs["total_loss"].backward()
            from scenenb.models.emorl import port_official_state
            grads = port_official_state({n: (t.grad if t.grad is not None else torch.zeros_like(t)) for n, t in official.named_parameters()},
                                        ours.state_dict().keys())
            rows = sorted(((float((q.grad - grads[n]).norm() / grads[n].norm().clamp_min(1e-30)), float(grads[n].norm()), n)
                           for n, q in ours.named_parameters()), reverse=True)
            total = sum(float((q.grad - grads[n]).pow(2).sum()) for n, q in ours.named_parameters()) ** 0.5
            scale = sum(float(grads[n].pow(2).sum()) for n, _ in ours.named_parameters()) ** 0.5
            print(f"gradients: |Δ| / |g| over all parameters {total / scale:.2e}; worst tensors (relative |Δ|, |g|): "
                  + "; ".join(f"{n} {r:.1e}, {g:.1e}" for r, g, n in rows[:3]))
            if a.check and total / scale > 1e-4: raise SystemExit(f"gradients differ: {total / scale:.2e}")
    if a.check and worst > 1e-4: raise SystemExit(f"outputs differ by up to {worst:.2e}")
    print(f"largest output difference {worst:.2e}")


if __name__ == "__main__":
    main()
