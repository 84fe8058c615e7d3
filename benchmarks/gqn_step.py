"""GQN training-step time: scenenb's `GQN` against iShohei220/torch-gqn, side by side.

Configuration (the issue's bar): tower representation, L = 12 unshared cores, hidden/canvas 128, z 3, 5 context
views, batch 4, 64x64 images, random inputs in [0, 1], σ = 2.0 (the start of the anneal). A step is forward +
backward + Adam (lr 5e-4) on the mean negative ELBO (nll + kl) over the batch, the same objective on both sides. Each
side uses the optimiser its own training loop builds: PyTorch's fused Adam for ours (what `scenenb.train.fit` uses by
default, `FitConfig.fused`), the default Adam for torch-gqn (its train.py); `--fused-baseline` adds a torch-gqn row with
fused Adam too, so the optimiser's share of the difference can be read off.
Per implementation: `--warmup` untimed steps, then `--steps` timed steps, in `--rounds` alternating subprocesses; the median (and min) over all of them; render time is the
median of `--steps` prior renders (`generate`, no gradients) of one query view per scene, divided by the batch size.
Each row runs in its own subprocess so that peak RSS (ru_maxrss) belongs to it alone. FLOPs per training sample are
counted with torch.utils.flop_counter on the meta device (scenenb.models.gqn.count_flops for ours; the same counter
around torch-gqn's model for theirs).

`--compiled` adds a row `ours_compiled`: ours trained through `torch.compile(model)` in float32 (what
`fit(compile="default")` does); its first step compiles and is never timed (`warmup_s` records warm-up with the
compilation). `--thp` runs every worker with `THP_MEM_ALLOC_ENABLE=1` (PyTorch's CPU allocator then asks for
transparent huge pages for large tensors), to show how much of a difference is page faults on freshly allocated memory.

torch-gqn is imported from `--torch-gqn PATH`, an extraction outside the repository:
  git --git-dir=/work/.mirror/iShohei220+torch-gqn/repo archive HEAD | tar -x -C /tmp/torch_gqn

usage: python benchmarks/gqn_step.py --torch-gqn /tmp/torch_gqn [--threads 2] [--steps 3] [--warmup 1] [--rounds 2] [--bf16] [--compiled] [--thp]
                                     [--fused-baseline] [--only ours|torch_gqn|ours_bf16|ours_compiled] [--write benchmarks/gqn_step.md]
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

B, M, SIZE, L = 4, 5, 64, 12


def inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, M, 3, SIZE, SIZE, generator=g), torch.rand(B, M, 7, generator=g),
            torch.rand(B, 7, generator=g), torch.rand(B, 3, SIZE, SIZE, generator=g))


def build(impl: str, torch_gqn: str | None):
    "Model, train-loss function and render function of one implementation."
    if impl.startswith("ours"):
        from scenenb.models.gqn import GQN, GQNConfig
        model = GQN(GQNConfig.preset("paper"))
        net = torch.compile(model) if impl == "ours_compiled" else model   # as fit(compile="default") trains it
        def loss(ctx, cp, qp, qi):
            out = net(ctx, cp, qp, qi)
            return (out.nll + out.kl).mean()
        def render(ctx, cp, qp): return model.generate(ctx, cp, qp)
    else:
        sys.path.insert(0, torch_gqn)
        from model import GQN as TorchGQN
        model = TorchGQN(representation="tower", L=L, shared_core=False)
        def loss(ctx, cp, qp, qi): return -model(ctx, cp, qp, qi, 2.0).mean()
        def render(ctx, cp, qp):
            with torch.no_grad(): return model.generate(ctx, cp, qp)
    return model, loss, render


def flops(model, loss) -> float:
    "Training-step FLOPs per sample, counted on the meta device."
    from torch.utils.flop_counter import FlopCounterMode
    torch.distributions.Distribution.set_default_validate_args(False)  # torch-gqn's Normal checks call .item()
    model = model.to("meta")
    args = [a.to("meta") for a in inputs()]
    with FlopCounterMode(display=False) as counter:
        loss(*args).backward()
    return counter.get_total_flops() / B


def worker(impl: str, torch_gqn: str | None, threads: int, steps: int, warmup: int) -> dict:
    torch.set_num_threads(threads); torch.manual_seed(0)
    model, loss, render = build("torch_gqn" if impl == "torch_gqn_fused" else impl, torch_gqn)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, fused=impl != "torch_gqn" or None)
    args = inputs()
    bf16 = impl == "ours_bf16"
    times, warm = [], warmup + (impl == "ours_compiled")   # a compiled model's first step compiles it: never timed
    t0 = time.perf_counter()
    for i in range(warm + steps):
        if i == warm: warmup_s = time.perf_counter() - t0
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            value = loss(*args)
        opt.zero_grad(set_to_none=True); value.backward(); opt.step()
        if i >= warm: times.append(time.perf_counter() - t)
    renders = []
    model.eval()
    for _ in range(steps):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            render(*args[:3])
        renders.append((time.perf_counter() - t) / B)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fl = flops(*build("ours", torch_gqn)[:2]) if impl == "ours_compiled" else flops(model, loss)   # compiled: counted eagerly, the same arithmetic
    return dict(impl=impl, params=params, median=statistics.median(times), min=min(times), steps=times,
                render_ms=1000 * statistics.median(renders), rss_mib=rss, gflop=fl / 1e9, loss=float(value),
                warmup_s=warmup_s, thp=os.environ.get("THP_MEM_ALLOC_ENABLE", ""))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--torch-gqn", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of one subprocess per implementation")
    p.add_argument("--bf16", action="store_true", help="add a row for ours under CPU bf16 autocast")
    p.add_argument("--compiled", action="store_true", help="add a row for ours under torch.compile (float32)")
    p.add_argument("--thp", action="store_true", help="every worker with THP_MEM_ALLOC_ENABLE=1 (transparent huge pages)")
    p.add_argument("--fused-baseline", action="store_true", help="add a row for torch-gqn with fused Adam")
    p.add_argument("--only", default=None, choices=["ours", "torch_gqn", "ours_bf16", "ours_compiled", "torch_gqn_fused"])
    p.add_argument("--write", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.torch_gqn, a.threads, a.steps, a.warmup))); return
    impls = [a.only] if a.only else (["torch_gqn"] if a.torch_gqn else []) + \
        (["torch_gqn_fused"] if a.torch_gqn and a.fused_baseline else []) + ["ours"] + (["ours_bf16"] if a.bf16 else []) + \
        (["ours_compiled"] if a.compiled else [])
    runs = {impl: [] for impl in impls}
    for _ in range(a.rounds):  # alternate the implementations, so that load from other jobs hits all of them alike
        for impl in impls:
            cmd = [sys.executable, __file__, "--worker", impl, "--threads", str(a.threads), "--steps", str(a.steps),
                   "--warmup", str(a.warmup)] + (["--torch-gqn", a.torch_gqn] if a.torch_gqn else [])
            out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(a.threads),
                                                                           **({"THP_MEM_ALLOC_ENABLE": "1"} if a.thp else {})})
            if out.returncode: sys.exit(f"{impl} failed:\n{out.stderr[-3000:]}")
            runs[impl].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(runs[impl][-1], flush=True)
    rows = []
    for impl, rs in runs.items():
        steps, renders = [t for r in rs for t in r["steps"]], [r["render_ms"] for r in rs]
        rows.append(dict(rs[0], median=statistics.median(steps), min=min(steps), render_ms=statistics.median(renders),
                         rss_mib=max(r["rss_mib"] for r in rs), n=len(steps)))
    ref = next((r["median"] for r in rows if r["impl"] == "torch_gqn"), None)
    load = os.getloadavg()
    lines = [f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} cores; torch "
             f"{torch.__version__}, {a.threads} threads, {platform.machine()}, median of {a.rounds}×{a.steps} steps ({a.rounds} "
             f"alternating subprocesses per implementation, each after {a.warmup} warm-up step(s)); tower, L {L}, unshared, {M} context views, batch {B}, {SIZE}x{SIZE}, random inputs"
             + ("; every process with THP_MEM_ALLOC_ENABLE=1" if a.thp else ""), "",
             "| implementation | params | GFLOP / training sample | s/step (median) | s/step (min) | speed-up vs torch-gqn (median) "
             "| peak RSS (MiB) | render ms/view |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = f"{ref / r['median']:.2f}×" if ref else "–"
        lines.append(f"| {r['impl']} | {r['params']:,} | {r['gflop']:.0f} | {r['median']:.2f} | {r['min']:.2f} | {speed} "
                     f"| {r['rss_mib']:.0f} | {r['render_ms']:.0f} |")
    table = "\n".join(lines)
    print(table)
    if a.write:
        with open(a.write, "w") as f: f.write("# GQN training step: scenenb vs torch-gqn\n\n" + table + "\n")


if __name__ == "__main__":
    main()
