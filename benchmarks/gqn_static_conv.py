"""GQN static gate convolutions, stacked or per step: the two `GQNConfig.static_conv` modes timed on one model.

The static part of each core's gates (the inputs that are the same at every step: query image, pose, tower r) is one
convolution with L·4·hidden output channels (`stacked`) or L convolutions with 4·hidden each, one per step's block of
the same weight (`per_step`). They compute the same numbers; which one is faster depends on the machine.

Both modes run on the same model and the same inputs (the mode is a switch on the two `StaticGates` modules), and the
timed training steps alternate between them (A B, B A, A B, ...), so that load from other jobs on a shared machine hits
both alike. A step is forward + backward + fused Adam on the mean negative ELBO, as in `benchmarks/gqn_step.py`.

usage: python benchmarks/gqn_static_conv.py [--preset paper] [--batch 4] [--threads 2] [--pairs 6] [--warmup 2]
                                            [--device cpu] [--write benchmarks/gqn_static_conv.md]
"""
import argparse
import platform
import statistics
import time

import torch

from scenenb.models.gqn import GQN, GQNConfig, PRESET_IMAGE_SIZES, StaticGates

MODES = ("stacked", "per_step")


def set_mode(model: GQN, mode: str) -> None:
    "Switch both cores' static convolutions to `mode` (the weights are the same in both)."
    for m in model.modules():
        if isinstance(m, StaticGates): m.per_step = mode == "per_step"
    model.config.static_conv = mode


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="paper")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--context", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pairs", type=int, default=6, help="timed steps per mode, alternating")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per mode first")
    p.add_argument("--device", default="cpu")
    p.add_argument("--write", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    device = torch.device(a.device)
    config = GQNConfig.preset(a.preset)
    size = PRESET_IMAGE_SIZES[a.preset]
    model = GQN(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, fused=True)
    g = torch.Generator().manual_seed(0)
    C, P, B, M = config.image_channels, config.pose_dim, a.batch, a.context
    args = [t.to(device) for t in (torch.rand(B, M, C, size, size, generator=g), torch.rand(B, M, P, generator=g),
                                   torch.rand(B, P, generator=g), torch.rand(B, C, size, size, generator=g))]
    noise = torch.randn(config.steps, B, config.z_dim, size // 4, size // 4, generator=g).to(device)

    def step() -> float:
        if device.type == "cuda": torch.cuda.synchronize()
        t = time.perf_counter()
        out = model(*args, noise=noise)
        loss = (out.nll + out.kl).mean()
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        if device.type == "cuda": torch.cuda.synchronize()
        return time.perf_counter() - t

    for mode in MODES:
        set_mode(model, mode)
        for _ in range(a.warmup): step()
    times = {mode: [] for mode in MODES}
    for k in range(a.pairs):
        for mode in (MODES if k % 2 == 0 else MODES[::-1]):
            set_mode(model, mode); times[mode].append(step())
    base = statistics.median(times["stacked"])
    lines = [f"GQN `{a.preset}` preset, batch {B}, {M} context views, {size}x{size}, {a.device}, {a.threads} threads, "
             f"torch {torch.__version__}, {platform.processor() or platform.machine()}; {a.warmup} warm-up and {a.pairs} timed "
             "training steps per mode, alternating", "",
             "| static_conv | s/step (median) | s/step (min) | speed-up vs stacked (median) |", "|---|---:|---:|---:|"]
    for mode in MODES:
        ts = times[mode]
        lines.append(f"| {mode} | {statistics.median(ts):.3f} | {min(ts):.3f} | {base / statistics.median(ts):.2f}× |")
    lines += ["", "Raw step times (s), in run order: " + " · ".join(
        f"{mode} " + ", ".join(f"{t:.2f}" for t in times[mode]) for mode in MODES)]
    text = "\n".join(lines)
    print(text)
    if a.write:
        with open(a.write, "a") as f: f.write(text + "\n\n")


if __name__ == "__main__":
    main()
