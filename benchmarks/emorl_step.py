"""EfficientMORL training-step time: scenenb's `EMORL` against the official implementation, side by side.

A training step is forward + backward + Adam step (lr 4e-4, no gradient clipping) on random images, with the same
objective on both sides: Σ_i w_i (nll_i + kl_i) averaged over the batch, the official weights w_i = (I+3-i)/(I+1),
I = 3 refinement steps, L = 3 stochastic layers (the official `total_loss` with kl_beta = 1 and no GECO, which is
what GECO reduces to before its warm start). Per configuration: 2 warm-up steps, then the median of `--steps` timed
steps; forward-only time is the median over `--steps` eval-mode forward passes (with refinement), divided by the
batch size. Every configuration runs in its own subprocess so that peak RSS (ru_maxrss) belongs to it alone.

The official column needs an extracted checkout of https://github.com/pemami4911/EfficientMORL given as
`--official PATH`; it is imported from that path only, inside the worker subprocess. Its `sacred` config capture is
replaced by a small stand-in that fills the constructor arguments from the preset (and scipy's truncnorm, used only
for initialisation, by a numpy one), so neither package is needed.

`--checkpoint` adds `ours_ckpt` rows: scenenb with `checkpoint=True` (each prediction's decoder and likelihood are
recomputed in the backward pass instead of stored; same numbers, less memory, more time).

`--bf16` adds `ours_bf16` rows: scenenb with the forward under CPU bfloat16 autocast (weights, gradients and Adam in
float32), what `FitConfig(amp="bf16")` does; worth it on CPUs with bf16 matrix units (AMX, `cpu_peak.md`).

`--baseline PATH` adds rows for another copy of the scenenb package (e.g. the last commit's, extracted with
`git archive HEAD scenenb | tar -x -C PATH`), so that a change can be measured before/after in the same run.

usage: python benchmarks/emorl_step.py [--official /tmp/emorl_official] [--baseline /tmp/scenenb_before] [--checkpoint] [--bf16]
                                       [--threads 2] [--steps 10] [--warmup 2] [--cases clevr6:8 ...]
                                       [--only ours|ours_ckpt|ours_bf16|official|baseline] [--write benchmarks/emorl_step.md]
"""
import argparse
import inspect
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import types

import numpy as np
import torch

CASES = [("tetrominoes", 4), ("tetrominoes", 32), ("multi_dsprites", 4)]
OFFICIAL_NET = {  # the official configs/train/<dataset>/EMORL.json "Net" sections (plus the model's defaults)
    "tetrominoes": dict(K=4, input_size=[3, 35, 35], image_likelihood="Gaussian", z_size=32, image_decoder="small",
                        log_scale=-1.2039728),
    "multi_dsprites": dict(K=6, input_size=[3, 64, 64], image_likelihood="Gaussian", z_size=64, image_decoder="iodine",
                           log_scale=-2.3025859),
    "clevr6": dict(K=7, input_size=[3, 96, 96], image_likelihood="GMM", z_size=64, image_decoder="iodine",
                   log_scale=-2.3025859),
}
OFFICIAL_DEFAULTS = dict(stochastic_layers=3, refinement_iters=3, geco_warm_start=1000, use_DualGRU=True,
                         bottom_up_prior=False, reverse_prior_plusplus=True)


def _stub_official_deps(config: dict) -> None:
    "Stand-ins for `sacred.Ingredient` (fills captured arguments from `config`) and `scipy.stats.truncnorm`."
    class Ingredient:
        def __init__(self, name): self.name = name
        def config(self, fn): return fn
        def capture(self, fn):
            sig = inspect.signature(fn)
            def wrapper(*args, **kwargs):
                bound = sig.bind_partial(*args, **kwargs).arguments
                for name in sig.parameters:
                    if name not in bound and name in config: kwargs[name] = config[name]
                return fn(*args, **kwargs)
            return wrapper
    sys.modules["sacred"] = types.SimpleNamespace(Ingredient=Ingredient)

    def rvs(a, b, size=None):
        rng, size = np.random.default_rng(0), tuple(np.atleast_1d(size))
        out = rng.standard_normal(size)
        bad = (out < a) | (out > b)
        while bad.any():
            out[bad] = rng.standard_normal(bad.sum()); bad = (out < a) | (out > b)
        return out
    stats = types.SimpleNamespace(truncnorm=types.SimpleNamespace(rvs=rvs))
    sys.modules["scipy"] = types.SimpleNamespace(stats=stats); sys.modules["scipy.stats"] = stats


def build(impl: str, preset: str, batch: int, official: str | None, baseline: str | None = None, net: dict | None = None,
          ours: dict | None = None):
    """Model, and functions images -> loss (train) / forward (eval) for one implementation; images in [0, 1].
    `net`: overrides of the official `Net` config; `ours`: of our EMORLConfig."""
    if impl in ("ours", "ours_ckpt", "ours_bf16", "baseline"):
        if impl == "baseline": sys.path.insert(0, baseline)
        from scenenb.models.emorl import EMORL, EMORLConfig
        model = EMORL(EMORLConfig.preset(preset, **(dict(checkpoint=True) if impl == "ours_ckpt" else {}), **(ours or {})))
        def loss(images):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=impl == "ours_bf16"):
                out = model(images)
            return (out.nll.float() + out.kl.float()).mean()
        def forward(images):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=impl == "ours_bf16"):
                return model(images)
        return model, loss, forward
    config = {**OFFICIAL_DEFAULTS, **OFFICIAL_NET[preset], "batch_size": batch, **(net or {})}
    _stub_official_deps(config)
    sys.path.insert(0, official)
    from lib.model import EfficientMORL
    model = EfficientMORL(batch_size=batch, use_geco=False)
    def loss(images):
        return model(images * 2 - 1, None, 0, 1.0)["total_loss"]
    return model, loss, lambda images: model(images * 2 - 1, None, 0, 1.0)


def worker(impl: str, preset: str, batch: int, steps: int, threads: int, official: str | None,
           baseline: str | None = None, warmup: int = 2) -> dict:
    torch.set_num_threads(threads); torch.manual_seed(0)
    model, loss_fn, forward = build(impl, preset, batch, official, baseline)
    if impl == "baseline":
        import scenenb
        assert scenenb.__file__.startswith(baseline), scenenb.__file__
    size = OFFICIAL_NET[preset]["input_size"][1:]
    images = torch.rand(batch, 3, *size)
    opt = torch.optim.Adam(model.parameters(), lr=4e-4)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    times = []
    for i in range(steps + warmup):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(images)
        loss.backward()
        opt.step()
        if i >= warmup: times.append(time.perf_counter() - t0)
        if not math.isfinite(loss.item()): raise RuntimeError(f"{impl} {preset}: non-finite loss")
    model.eval()
    forward(images)
    fwd = []
    for _ in range(steps):
        t0 = time.perf_counter(); forward(images); fwd.append(time.perf_counter() - t0)
    return dict(impl=impl, preset=preset, batch=batch, step=statistics.median(times), min_step=min(times), times=[round(t, 3) for t in times], params=params,
                forward=statistics.median(fwd) / batch, rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", help="path of an extracted official EfficientMORL checkout (adds its rows)")
    p.add_argument("--baseline", help="path holding another copy of the `scenenb` package (e.g. `git archive HEAD scenenb`), "
                   "measured as an extra 'baseline' row")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    p.add_argument("--checkpoint", action="store_true", help="add rows for ours with checkpoint=True")
    p.add_argument("--bf16", action="store_true", help="add rows for ours under CPU bfloat16 autocast ('ours_bf16')")
    p.add_argument("--only", choices=("ours", "ours_ckpt", "ours_bf16", "official", "baseline"), help="run one implementation only")
    p.add_argument("--cases", nargs="+", default=[f"{p}:{b}" for p, b in CASES],
                   help="preset:batch pairs to run (default: %(default)s)")
    p.add_argument("--write", help="also write the table to this Markdown file")
    p.add_argument("--_worker", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._worker:
        impl, preset, batch = args._worker
        print(json.dumps(worker(impl, preset, int(batch), args.steps, args.threads, args.official, args.baseline, args.warmup)))
        return
    impls = [i for i in ("official", "baseline", "ours", "ours_ckpt", "ours_bf16")
             if {"official": args.official, "baseline": args.baseline, "ours_ckpt": args.checkpoint or args.only == "ours_ckpt",
                 "ours_bf16": args.bf16 or args.only == "ours_bf16"}.get(i, True) and args.only in (None, i)]
    rows = []
    for preset, batch in [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases]:
        for impl in impls:
            cmd = [sys.executable, __file__, "--_worker", impl, preset, str(batch), "--steps", str(args.steps),
                   "--threads", str(args.threads), "--warmup", str(args.warmup)] + (["--official", args.official] if args.official else []) \
                  + (["--baseline", args.baseline] if args.baseline else [])
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode: raise SystemExit(f"{impl} {preset} {batch} failed:\n{out.stderr}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1])); print(rows[-1], file=sys.stderr)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"load average at the end {load} on {os.cpu_count()} cores; "
             f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}, "
             f"median of {args.steps} steps after {args.warmup} warm-up step(s), random images, objective Σ_i w_i (nll_i + kl_i)\n",
             "| implementation | preset | batch | params | s/step (median) | s/step (min) | speed-up vs official (median) | peak RSS (MiB) | forward ms/image |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    base = {(r["preset"], r["batch"]): r["step"] for r in rows if r["impl"] == "official"}
    for r in rows:
        ref = base.get((r["preset"], r["batch"]))
        speed = f"{ref / r['step']:.2f}×" if ref else "—"
        lines.append(f"| {r['impl']} | {r['preset']} | {r['batch']} | {r['params']:,} | {r['step']:.3f} | {r['min_step']:.3f} | {speed} | "
                     f"{r['rss']:.0f} | {1000 * r['forward']:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        with open(args.write, "w") as f: f.write("# EMORL training step: scenenb vs official\n\n" + table + "\n")


if __name__ == "__main__":
    main()
