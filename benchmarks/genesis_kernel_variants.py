"""Two kernel-level alternatives for GENESIS's float32 step on a CPU, measured (neither is adopted; see genesis_step.md).

1. channels_last: the whole training step (GENESIS `gqn_rooms`, K 7, 64x64, fused Adam) with the model and input in
   torch.channels_last against the default layout, alternating, `--rounds` times, `--steps` timed steps each.
2. A stride-1 transposed convolution written as the equivalent conv2d (flipped, transposed weights, padding k-1-p):
   forward + backward of the mask decoder's layer shapes (B·K = 224 maps, 5x5, 32 -> 64 channels at 64x64 and 32x32),
   best of 3, after checking that both give the same output.

usage: python benchmarks/genesis_kernel_variants.py [--threads 1] [--batch 8] [--steps 3] [--rounds 2]
"""
import argparse
import time

import torch
import torch.nn.functional as F

from scenenb.models.genesis import Genesis, GenesisConfig


def step_times(channels_last: bool, batch: int, steps: int) -> list[float]:
    torch.manual_seed(0)
    model, x = Genesis(GenesisConfig.preset("gqn_rooms")), torch.rand(batch, 3, 64, 64)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    times = []
    for i in range(steps + 1):                                    # the first step is a warm-up
        start = time.perf_counter()
        out = model(x)
        opt.zero_grad(set_to_none=True)
        (out.nll + out.kl).mean().backward()
        opt.step()
        if i: times.append(time.perf_counter() - start)
    return times


def best_of(fn, repeat: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def transposed_vs_conv(maps: int, size: int):
    x = torch.randn(maps, 32, size, size, requires_grad=True)
    w = torch.randn(32, 64, 5, 5, requires_grad=True)                # conv_transpose2d weight: (in, out, k, k)
    b = torch.randn(64, requires_grad=True)
    with torch.no_grad():
        diff = (F.conv_transpose2d(x, w, b, padding=2) - F.conv2d(x, w.flip(2, 3).transpose(0, 1), b, padding=2)).abs().max()
    transposed = best_of(lambda: F.conv_transpose2d(x, w, b, padding=2).sum().backward())
    conv = best_of(lambda: F.conv2d(x, w.flip(2, 3).transpose(0, 1), b, padding=2).sum().backward())
    return float(diff), transposed, conv


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} thread(s)\n\n| layout | step times (s), batch {a.batch} |\n|---|---|")
    for _ in range(a.rounds):
        for cl in (False, True):
            print(f"| {'channels_last' if cl else 'contiguous (NCHW)'} | {', '.join(f'{t:.2f}' for t in step_times(cl, a.batch, a.steps))} |", flush=True)
    print("\n| layer (224 maps, 5x5, 32 -> 64) | max difference | conv_transpose2d fwd+bwd (s) | as conv2d (s) |\n|---|---:|---:|---:|")
    for size in (64, 32):
        diff, t, c = transposed_vs_conv(224, size)
        print(f"| {size}x{size} | {diff:.1e} | {t:.3f} | {c:.3f} |", flush=True)


if __name__ == "__main__":
    main()
