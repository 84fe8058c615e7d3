"""What this CPU's matrix units deliver at best: large float32 and bfloat16 matrix products, in GFLOP/s.

The achievable ceiling against which `profile_step.py`'s convolution rates are read: a square N x N x N product is
2·N³ FLOPs, the kind of work oneDNN/MKL run closest to the hardware's peak. Best of `--repeat` timings after one warm-up,
for each thread count.

usage: python benchmarks/cpu_peak.py [--size 4096] [--repeat 5] [--threads 1 2]
"""
import argparse
import time

import torch


def rate(n: int, dtype: torch.dtype, repeat: int) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    a = p.parse_args()
    print(f"torch {torch.__version__}; {a.size}x{a.size} @ {a.size}x{a.size}, best of {a.repeat}\n")
    print("| threads | float32 GFLOP/s | bfloat16 GFLOP/s |")
    print("|---:|---:|---:|")
    for t in a.threads:
        torch.set_num_threads(t)
        print(f"| {t} | {rate(a.size, torch.float32, a.repeat):.0f} | {rate(a.size, torch.bfloat16, a.repeat):.0f} |", flush=True)


if __name__ == "__main__":
    main()
