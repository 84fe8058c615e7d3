"""Does torch.compile give the same EMORL training step, and is it faster? One process, CPU by default.

    python benchmarks/emorl_compile_check.py [--batch 4] [--preset tetrominoes] [--steps 3] [--mode default]

Builds the preset (official initialisation, seed 0), takes one eager step and one compiled step on the same random
images and the same noise draws (no optimizer: the weights do not move), and prints the two losses, the relative
gradient difference per parameter (largest first, with both gradient norms: parameters whose gradients are ~0 differ by
rounding alone), the mean time of `--steps` further steps each, the compilation time and dynamo's graph breaks.
Results: benchmarks/GPU.md ("torch.compile for this run?").
"""
import argparse
import time
from collections import Counter

import torch
import torch._dynamo

from scenenb.models.emorl import EMORL, EMORLConfig, PRESET_IMAGE_SIZES


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--preset", default="tetrominoes")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--mode", default="default", help="torch.compile mode")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()

    torch.manual_seed(0)
    cfg = EMORLConfig.preset(a.preset)
    model = EMORL(cfg).to(a.device).train()
    images = torch.rand(a.batch, 3, *PRESET_IMAGE_SIZES[a.preset], device=a.device)
    noise = torch.randn(a.batch, cfg.num_slots, model.num_noise_draws(), cfg.latent_dim, device=a.device)

    def step(net):
        out = net(images, noise=noise)
        loss = (out.nll + out.kl).mean()
        model.zero_grad(set_to_none=True)
        loss.backward()
        return loss.item(), [q.grad.clone() for q in model.parameters()]

    def timed(net):
        t = time.perf_counter()
        for _ in range(a.steps): step(net)
        return (time.perf_counter() - t) / a.steps

    eager_loss, eager_grads = step(model)
    eager_s = timed(model)
    compiled = torch.compile(model, mode=None if a.mode == "default" else a.mode)
    t = time.perf_counter(); compiled_loss, compiled_grads = step(compiled); first_s = time.perf_counter() - t
    compiled_s = timed(compiled)

    rows = sorted((((g0 - g1).norm() / g0.norm().clamp_min(1e-30)).item(), name, g0.norm().item(), g1.norm().item())
                  for (name, _), g0, g1 in zip(model.named_parameters(), eager_grads, compiled_grads))[::-1]
    print(f"{a.preset}, batch {a.batch}, {a.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"loss: eager {eager_loss:.6f}, compiled {compiled_loss:.6f}")
    print("largest relative gradient differences (parameter, |g| eager, |g| compiled):")
    for rel, name, n0, n1 in rows[:8]: print(f"  {rel:.2e}  {name}  {n0:.3g}  {n1:.3g}")
    print(f"s/step: eager {eager_s:.3f}, compiled {compiled_s:.3f} (first compiled step {first_s:.1f} s)")
    breaks = Counter({k.splitlines()[0][:100]: v for k, v in torch._dynamo.utils.counters["graph_break"].items()})
    print(f"graph breaks: {sum(breaks.values())}")
    for reason, n in breaks.most_common(): print(f"  {n} x {reason}")


if __name__ == "__main__":
    main()
