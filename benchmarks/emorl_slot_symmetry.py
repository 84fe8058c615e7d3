"""Are an EMORL model's slots still all alike? Read-outs of slot symmetry for checkpoints, one JSON line each.

On 16 generated test scenes of the checkpoint's dataset (seed 1 unless `--seed`), one forward pass, no refinement beyond
the model's own:
- `slot_spread`: standard deviation of the final posterior means across the K slots (mean over images and dimensions);
  `image_spread` the same across images, for scale;
- `mask_entropy`: mean per-pixel entropy of the masks in nats (log K when every slot holds every pixel equally);
- `attention_dev`: per stochastic layer, the mean distance of the bottom-up attention from 1/K;
- `init_mu_rms`, `init_sigma`: the learned λ₀ = (μ₀, σ₀) every slot starts from (root mean square of μ₀, mean of σ₀):
  the slots' first samples z = μ₀ + σ₀ ε differ only through σ₀ ε, the one thing that sets them apart at the start;
- `logit_spread`: in the first layer, for those first samples, the standard deviation across slots of the attention
  logits q_k·k_n/√D, averaged over pixels and images: how strongly the slots' differences can steer the attention
  (near 0, every pixel is shared equally whatever the samples); it grows with two parts, `query_spread` (root mean
  square across slots of the queries' deviation from their mean over slots) and `key_spread` (the same across pixels
  for the keys: near 0, the encoder's features no longer tell pixels apart);
- inside the encoder, where the pixels stop differing: `dead_channels`, per convolution, the fraction of its channels that
  are zero at every pixel of every image; `conv_spread`, the last convolution's variation across pixels relative to its
  size (root mean square of the deviation from the per-image mean over pixels, over the root mean square), and
  `norm_spread`, the same after the per-pixel LayerNorm that opens the encoder's MLP: features that differ between pixels
  only in their length along one direction keep a large `conv_spread` and lose it in `norm_spread`.
The model's random draws are seeded (`--seed`), so a checkpoint always reads the same.
Used in `figures/emorl_quick_long/README.md` ("Seed 2 did not segment", "Five seeds", "What keeps the slots alike").

usage: python benchmarks/emorl_slot_symmetry.py CKPT [CKPT ...] [--seed 1] [--num-images 16] [--threads 1]
"""
import argparse
import json
import math

import torch

from scenenb.core import seeded
from scenenb.data.datasets import GeneratedObjects
from scenenb.io import load_checkpoint
from scenenb.models.emorl import load_emorl
from scenenb.nn.distributions import std_from_softplus


def symmetry(model, images: torch.Tensor, seed: int = 0) -> dict:
    "Slot-symmetry read-outs of `model` on `images` (B, C, H, W), its random draws seeded with `seed`."
    with torch.no_grad(), seeded(seed): out = model(images)
    masks = out.masks.clamp_min(1e-12)                                   # (B, K, 1, H, W)
    K = masks.shape[1]
    mu0, raw0 = model.posterior.initial.detach().chunk(2)                # λ₀: (D,) each
    post = model.posterior
    # one pass through the encoder, its intermediate outputs caught on the way: each convolution's ReLU (B, F, H, W) and
    # the per-pixel LayerNorm that opens its MLP (B, N, F)
    convs, normed = [], []
    relus = [m for m in model.encoder.convs if isinstance(m, torch.nn.ReLU)]
    hooks = [m.register_forward_hook(lambda _m, _i, o: convs.append(o)) for m in relus]
    hooks.append(model.encoder.mlp[0].register_forward_hook(lambda _m, _i, o: normed.append(o)))
    try:
        with torch.no_grad(), seeded(seed):
            keys = post.to_k(model.encoder(images))                       # (B, N, D)
            z = mu0 + std_from_softplus(raw0) * torch.randn(images.shape[0], K, mu0.numel())  # (B, K, D)
            queries = post.to_q(post.norm_slots(z)) * post.scale         # (B, K, D)
            logits = torch.einsum("bkd,bnd->bkn", queries, keys)         # (B, K, N)
    finally:
        for h in hooks: h.remove()
    last = convs[-1].flatten(2).transpose(1, 2)                          # (B, N, F)
    def spread(x, dim): return round((x - x.mean(dim, keepdim=True)).pow(2).mean().sqrt().item(), 4)
    def relative(x): return round(((x - x.mean(1, keepdim=True)).pow(2).mean() / x.pow(2).mean().clamp_min(1e-12)).sqrt().item(), 3)
    return {"slot_spread": round(out.latents.std(1).mean().item(), 3),
            "image_spread": round(out.latents.std(0).mean().item(), 3),
            "mask_entropy": round(-(masks * masks.log()).sum(1).mean().item(), 3), "log_K": round(math.log(K), 3),
            "attention_dev": [round((a.flatten(2) - 1 / K).abs().mean().item(), 4) for a in out.attention],
            "init_mu_rms": round(mu0.pow(2).mean().sqrt().item(), 3), "init_sigma": round(std_from_softplus(raw0).mean().item(), 3),
            "logit_spread": round(logits.std(1).mean().item(), 4), "query_spread": spread(queries, 1), "key_spread": spread(keys, 1),
            "dead_channels": [round((c.amax((0, 2, 3)) <= 0).float().mean().item(), 2) for c in convs],
            "conv_spread": relative(last), "norm_spread": relative(normed[0])}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--num-images", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    images = torch.stack([s["image"] for s in GeneratedObjects("tetrominoes", seed=a.seed, num_scenes=a.num_images, factors=False)])
    for path in a.checkpoints:
        state = load_checkpoint(path, required=("model", "model_config", "step"))
        print(json.dumps({"checkpoint": path, "step": state["step"], **symmetry(load_emorl(state), images, a.seed)}), flush=True)


if __name__ == "__main__":
    main()
