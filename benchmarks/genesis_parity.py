"""Is scenenb's `Genesis` the official GENESIS network? Same weights, same noise, same images: compare every output.

The official model (applied-ai-lab/genesis, `models/genesis_config.py`, an extracted checkout given as `--official PATH`,
built by `genesis_step.build` with its stand-ins for `forge`/`attrdict`; K 7, 64×64, two-stage, autoregressive and
component priors, batch norm, σ 0.7) is initialised as its code does. Its state is saved as the official `train.py`
saves checkpoints and loaded into our `Genesis` with `scenenb.models.genesis.load_official_genesis` (`gqn_rooms` preset;
weights and batch-norm statistics; a renaming, nothing rearranged). The way back is checked as well:
`official_genesis_state_dict` of the loaded model goes strictly into a second official model and must equal the first. Both then run on the same generated GQN-rooms images with the same standard-normal draws: the official code
asks `torch.distributions` for K mask draws of (B, 64) and one component draw of (K·B, 16) ordered slot-major; ours
asks `torch.randn` for the same K mask draws and a (B, K, 16) component draw, which is the official one reordered.
Compared, in training mode (batch statistics, as training runs): the log masks, the component means, the
reconstruction, the per-image NLL (the official `err`), both KL terms per slot, the training loss as
`benchmarks/genesis_step.py` defines it for both (`err + Σ_k kl_m_k + Σ_k kl_l_k`, mean over the batch), and the
gradient of that loss with respect to every parameter. Then the same in evaluation mode (running statistics).

`--check` exits with an error unless the outputs agree to 1e-4 (relative to their scale) and the gradients to a relative
1e-4 overall.

`--single-stage`, `--no-autoreg-prior`, `--no-comp-prior` and `--pixel-std monet` (σ 0.09 for the first component,
0.11 for the others) set the official flags of those names; ours reads them off the checkpoint.

usage: python benchmarks/genesis_parity.py [--official .refs/genesis_official] [--batch 4] [--single-stage]
       [--no-autoreg-prior] [--no-comp-prior] [--pixel-std paper|monet] [--check]
"""
import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genesis_step  # noqa: E402


from parity import Draws, rel  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", default=".refs/genesis_official")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--single-stage", action="store_true")
    p.add_argument("--no-autoreg-prior", action="store_true")
    p.add_argument("--no-comp-prior", action="store_true")
    p.add_argument("--pixel-std", default="paper", choices=("paper", "monet"))
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    torch.manual_seed(0)
    flags = dict(two_stage=not a.single_stage, autoreg_prior=not a.no_autoreg_prior, comp_prior=not a.no_comp_prior,
                 pixel_std1=0.09 if a.pixel_std == "monet" else 0.7, pixel_std2=0.11 if a.pixel_std == "monet" else 0.7)
    official, official_loss, _ = genesis_step.build("official", a.batch, a.official, None, flags=flags)
    from scenenb.data.datasets import GeneratedObjects
    from scenenb.models.genesis import _official_genesis_names, load_official_genesis, official_genesis_state_dict
    path = os.path.join(tempfile.mkdtemp(), "model.ckpt-FINAL")
    torch.save({"model_state_dict": official.state_dict(), "optimiser_state_dict": {}}, path)
    ours = load_official_genesis(path, "gqn_rooms")
    copy, _, _ = genesis_step.build("official", a.batch, a.official, None, flags=flags)
    copy.load_state_dict(official_genesis_state_dict(ours))
    if not all(torch.equal(x, y) for x, y in zip(copy.state_dict().values(), official.state_dict().values())):
        raise SystemExit("official_genesis_state_dict(load_official_genesis(state)) is not the official state")
    names = _official_genesis_names(ours.state_dict().keys(), ours.config.two_stage)
    K, B, D, Dc = genesis_step.K, a.batch, 64, 16
    scenes = list(GeneratedObjects("rooms_ring_camera", seed=0, num_scenes=B, factors=False, size=(64, 64)))
    images = torch.stack([s["image"] for s in scenes])
    mask_draws = [torch.randn(B, D) for _ in range(K)]
    comp_draw = torch.randn(K * B, Dc)                                       # official order: slot-major
    worst_out, worst_grad = 0.0, 0.0
    for mode in ("train", "eval"):
        official.train(mode == "train"); ours.train(mode == "train")
        official.zero_grad(); ours.zero_grad()
        saved_normal, saved_randn = torch.distributions.normal._standard_normal, torch.randn
        two = ours.config.two_stage
        theirs_draws = Draws(mask_draws + ([comp_draw] if two else []))
        mine_draws = Draws(mask_draws + ([comp_draw.view(K, B, Dc).transpose(0, 1)] if two else []))
        torch.distributions.normal._standard_normal = lambda shape, dtype, device: theirs_draws.take(shape)
        try:
            recon, losses, stats, att_stats, comp_stats = official(images)
            their_comp_kl = torch.stack(losses.kl_l_k, 1).sum(1) if "kl_l_k" in losses else torch.zeros(B)
            their_loss = losses.err.mean(0) + torch.stack(losses.kl_m_k, 1).sum(1).mean(0) + their_comp_kl.mean(0)
        finally:
            torch.distributions.normal._standard_normal = saved_normal
        torch.randn = lambda shape, **kw: mine_draws.take(shape)
        try:
            out = ours(images)
        finally:
            torch.randn = saved_randn
        mine_loss = (out.nll + out.kl).mean()
        rows = {
            "log masks": rel(out.log_masks.exp(), torch.stack(stats.log_m_k, 1).exp()),
            "component means": rel(out.components, torch.stack(stats.x_r_k, 1)),
            "reconstruction": rel(out.recon, recon),
            "NLL per image": rel(out.nll, losses.err),
            "mask KL per image": rel(out.mask_kl, torch.stack(losses.kl_m_k, 1).sum(1)),
            "component KL per image": rel(out.component_kl, their_comp_kl) if two else 0.0,
            "loss": rel(mine_loss, their_loss),
        }
        print(f"## {mode} mode ({ours.config.to_dict()['pixel_std']} σ, two_stage {two}, priors {ours.config.autoregressive_prior}/"
              f"{ours.config.component_prior}, batch {B}, K {K}, 64x64; draws used: official {theirs_draws.used}, "
              f"ours {mine_draws.used} of {len(theirs_draws.draws)})")
        for name, value in rows.items(): print(f"{name}: largest difference relative to the largest value {value:.2e}")
        print(f"loss: ours {float(mine_loss.detach()):.4f} official {float(their_loss.detach()):.4f}")
        worst_out = max(worst_out, *rows.values())
        if mode == "train":
            mine_loss.backward(); their_loss.backward()
            theirs_grads = {n: (t.grad if t.grad is not None else torch.zeros_like(t)) for n, t in official.named_parameters()}
            params = dict(ours.named_parameters())
            grads = {n: theirs_grads[names[n]] for n in params}
            diff = sum(float((params[n].grad - grads[n]).pow(2).sum()) for n in params) ** 0.5
            scale = sum(float(grads[n].pow(2).sum()) for n in params) ** 0.5
            worst = sorted(((float((params[n].grad - grads[n]).norm() / grads[n].norm().clamp_min(1e-30)), float(grads[n].norm()), n)
                            for n in params), reverse=True)[:3]
            worst_grad = diff / scale
            print(f"gradients: |Δ| / |g| over all parameters {worst_grad:.2e}; worst tensors (relative |Δ|, |g|): "
                  + "; ".join(f"{n} {r:.1e}, {g:.1e}" for r, g, n in worst))
    print(f"largest output difference {worst_out:.2e}, gradient difference {worst_grad:.2e}")
    if a.check and (worst_out > 1e-4 or worst_grad > 1e-4):
        raise SystemExit(f"outputs differ by up to {worst_out:.2e}, gradients by {worst_grad:.2e}")


if __name__ == "__main__":
    main()
