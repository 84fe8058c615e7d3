"""Why gpu_bench.py takes its peak memory over the timed steps only: under `FlopCounterMode` (a torch dispatch mode),
`torch.utils.checkpoint` keeps far more memory than it does outside it. Each configuration runs in a fresh process:
one plain training step of EMORL `clevr6` (forward, backward, Adam) warms up, then a second step runs with or without
the FLOP counter, and the process's peak resident memory (ru_maxrss) is read after each. On a CPU; no GPU needed.

usage: python benchmarks/checkpoint_flopcounter.py [--batch 4] [--threads 2]
"""
import argparse
import resource
import subprocess
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode


def gib() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def worker(checkpoint: bool, counted: bool, batch: int, threads: int) -> tuple[float, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_memory import object_centric   # the builders every memory benchmark uses
    torch.manual_seed(0); torch.set_num_threads(threads)
    build, loss, _ = object_centric("EMORL", "clevr6", batch, **(dict(checkpoint=True) if checkpoint else {}))
    model, images = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    def step():
        value = loss(model, images); opt.zero_grad(); value.backward(); opt.step()
    step()
    first = gib()
    if counted:
        with FlopCounterMode(display=False): step()
    else: step()
    return first, gib()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(*worker(bool(a.worker[0]), bool(a.worker[1]), a.batch, a.threads)); return
    print(f"EMORL clevr6, batch {a.batch}, {a.threads} threads, torch {torch.__version__}: peak resident memory (GiB)\n")
    print("| checkpoint | second step | after the first step | after the second step |\n|---|---|---:|---:|")
    for checkpoint, counted in ((0, 0), (0, 1), (1, 0), (1, 1)):
        out = subprocess.run([sys.executable, __file__, "--batch", str(a.batch), "--threads", str(a.threads),
                              "--worker", str(checkpoint), str(counted)], capture_output=True, text=True, check=True)
        first, second = map(float, out.stdout.split()[-2:])
        print(f"| {'yes' if checkpoint else 'no'} | {'under FlopCounterMode' if counted else 'plain'} | {first:.2f} | {second:.2f} |")


if __name__ == "__main__":
    main()
