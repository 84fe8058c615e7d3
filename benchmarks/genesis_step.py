"""GENESIS training-step time: scenenb's `Genesis` against the official implementation and genesis.pytorch, side by side.

Configuration (the GQN-rooms setting): K = 7, 64x64 RGB, two-stage model with the autoregressive mask prior and the
component prior, 64-d mask latents, 16-d component latents, batch norm, random images in [0, 1]. A step is forward +
backward + Adam (lr 1e-4, no gradient clipping, no GECO) on the negative ELBO averaged over the batch, the same
objective on every side; each side steps with the Adam its own training loop builds (PyTorch's fused Adam for ours, as
`scenenb.train.fit` does by default; the default Adam for the official code and genesis.pytorch):
  - ours: `(out.nll + out.kl).mean()` of `Genesis(GenesisConfig.preset("gqn_rooms"))` (Monte-Carlo KLs, σ = 0.7);
  - official (applied-ai-lab/genesis, `models/genesis_config.py`): `err.mean(0) + Σ_k kl_m_k.mean(0) + Σ_k kl_l_k.mean(0)`
    from the `losses` its forward returns (what its `train.py` calls elbo: the per-image reconstruction error plus the
    mask and component KLs), with the config of its defaults (K_steps 7, img_size 64, two_stage, autoreg_prior,
    comp_prior, montecarlo_kl, pixel_std1 = pixel_std2 = 0.7, bn norms, ...);
  - genesis_pytorch (pemami4911/genesis.pytorch): its own `loss.genesis_loss(images, model, None, 0.0)["loss"]`, i.e.
    mean(KL_m + KL_c) − mean(log p(x)) with reconstruction target 0 and no GECO, the model built from its `Net` config
    (K 7, 3x64x64, the GQN rooms-ring-camera setting it was released for).
Per implementation and batch size: `--warmup` untimed steps (the first one also counts FLOPs with
torch.utils.flop_counter.FlopCounterMode; with `--warmup 0` that counted step is an extra one), then `--steps` timed
steps, in `--rounds` alternating subprocesses; the table gives the median and min over all of them. Every row runs
in its own subprocess so that peak RSS (ru_maxrss) belongs to it alone. Forward ms/image is the median of `--steps`
eval-mode forward passes under torch.no_grad() (after one untimed pass), divided by the batch size. With `--bf16` a
fourth row, `ours_bf16`, runs our step with the forward (and so the backward's matrix products) under CPU bfloat16
autocast; the weights, gradients and Adam stay float32. With `--compiled` a row `ours_compiled` trains ours through
`torch.compile(model)` in float32 (what `fit(compile="default")` does); its first step compiles and is never timed
(`warmup_s` records it), and its FLOPs are counted on an eager step, the same arithmetic. `--thp` runs every worker
with `THP_MEM_ALLOC_ENABLE=1`, which makes PyTorch's CPU allocator ask for transparent huge pages for large tensors:
an eager step at batch 32 takes about 2.7 million minor page faults (each freed activation goes back to the kernel
and comes back zeroed), a compiled one, which reuses its buffers, about 0.75 million, and huge pages cut the eager
count to about 55 thousand — so the rows with `--thp` show how much of a difference is the allocator's.

The reference implementations are used read-only: they are imported at run time from extractions outside the
repository, and nothing of theirs is copied here. Extract them with
  mkdir -p /tmp/genesis_official && git --git-dir=/work/.mirror/applied-ai-lab+genesis/repo archive HEAD | tar -x -C /tmp/genesis_official
  mkdir -p /tmp/genesis_pytorch && git --git-dir=/work/.mirror/pemami4911+genesis.pytorch/repo archive HEAD -- . ':!weights' | tar -x -C /tmp/genesis_pytorch
(genesis.pytorch's `weights/` blob is not in the mirror, hence the pathspec). Their dependencies that the model does
not need are replaced by small stand-ins inside the worker: for the official code `forge.flags` (flag definitions
become no-ops, the config is passed as an object), `attrdict.AttrDict` (a dict with attribute access) and
`utils.misc` (which pulls in tensorflow and sklearn; only its mask-sum check is used, in eval mode); for
genesis.pytorch `sacred.Ingredient` (its config function is run and the captured constructor arguments are filled
from it) and `scipy.stats.truncnorm` (via torch.nn.init.trunc_normal_). genesis.pytorch moves its constant tensors to
'cuda' in its constructors; on a CPU-only machine those `.to('cuda')` calls are sent to the CPU while the model is
built (its `zm_1`, which `.to('cuda')` turns into a plain tensor on a GPU, stays a plain tensor here as well).

usage: python benchmarks/genesis_step.py --official /tmp/genesis_official --genesis-pytorch /tmp/genesis_pytorch
                                         [--threads 2] [--steps 3] [--warmup 1] [--rounds 2] [--batches 4 32]
                                         [--bf16] [--compiled] [--thp] [--only IMPL] [--write benchmarks/genesis_step.md]
"""
import argparse
import contextlib
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

import torch
from torch import nn

SIZE, K = 64, 7
IMPLS = ("official", "genesis_pytorch", "ours", "ours_bf16", "ours_compiled")


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name); mod.__dict__.update(attrs); sys.modules[name] = mod
    return mod


def _official_config():
    "The official flag values for this setting, as the attribute object its `Genesis(cfg)` reads."
    return types.SimpleNamespace(
        K_steps=K, img_size=SIZE, two_stage=True, autoreg_prior=True, comp_prior=True, attention_latents=64,
        enc_norm="bn", dec_norm="bn", comp_enc_channels=32, comp_ldim=16, comp_dec_channels=32, comp_dec_layers=4,
        comp_symmetric=False, pixel_bound=True, pixel_std1=0.7, pixel_std2=0.7, montecarlo_kl=True, debug=False)


def _stub_official_deps() -> None:
    "Stand-ins for forge.flags, attrdict.AttrDict and utils.misc (tensorflow/sklearn/simplejson are not needed)."
    class AttrDict(dict):
        def __getattr__(self, key):
            try: return self[key]
            except KeyError: raise AttributeError(key) from None
        def __setattr__(self, key, value): self[key] = value

    class Flags:
        def __getattr__(self, name): return lambda *args, **kwargs: None

    def check_log_masks(log_m_k):
        "Warn when the masks do not sum to one (eval-mode sanity check of the official forward)."
        total = torch.stack(log_m_k, dim=4).exp().sum(dim=4)
        dev = (total - 1).max().item()
        if dev > 1e-3 or torch.isnan(total).any(): print(f"Max difference: {dev}", file=sys.stderr)

    _module("attrdict", AttrDict=AttrDict)
    forge = _module("forge", flags=Flags(), __path__=[])
    forge.experiment_tools = _module("forge.experiment_tools", fprint=print)
    _module("utils.misc", check_log_masks=check_log_masks)


def _stub_genesis_pytorch_deps(extra: dict) -> None:
    "Stand-ins for sacred.Ingredient (runs the config function, fills captured arguments) and scipy.stats.truncnorm."
    class Ingredient:
        def __init__(self, name): self.name, self.values = name, dict(extra)
        def config(self, fn):
            code, seen = fn.__code__, {}
            def profile(frame, event, arg):
                if event == "return" and frame.f_code is code: seen.update(frame.f_locals)
            old = sys.getprofile(); sys.setprofile(profile)
            try: fn()
            finally: sys.setprofile(old)
            self.values = {**seen, **self.values}
            return fn
        def capture(self, fn):
            sig = inspect.signature(fn)
            def wrapper(*args, **kwargs):
                bound = sig.bind_partial(*args, **kwargs).arguments
                for name in sig.parameters:
                    if name not in bound and name in self.values: kwargs[name] = self.values[name]
                return fn(*args, **kwargs)
            return wrapper
    _module("sacred", Ingredient=Ingredient)

    def rvs(a, b, size=None):
        "Standard normal truncated to [a, b] (scipy's convention), as float64 numpy."
        out = torch.empty(tuple(size) if size is not None else (), dtype=torch.float64)
        return nn.init.trunc_normal_(out, 0.0, 1.0, a, b).numpy()
    stats = types.SimpleNamespace(truncnorm=types.SimpleNamespace(rvs=rvs))
    _module("scipy", stats=stats); sys.modules["scipy.stats"] = stats


class _CudaToCpu:
    "While active, `Tensor.to('cuda')` goes to the CPU (a Parameter comes back as a plain tensor, as on a GPU)."
    def __enter__(self):
        self.orig = orig = torch.Tensor.to
        def to(t, *args, **kwargs):
            if args and isinstance(args[0], (str, torch.device)) and str(args[0]).startswith("cuda"):
                out = orig(t, "cpu", *args[1:], **kwargs)
                return out.clone() if isinstance(t, nn.Parameter) else out
            return orig(t, *args, **kwargs)
        torch.Tensor.to = to
    def __exit__(self, *exc): torch.Tensor.to = self.orig


def build(impl: str, batch: int, official: str | None, genesis_pytorch: str | None, on_gpu: bool = False,
          flags: dict | None = None):
    """Model, images -> training loss, images -> eval forward, for one implementation; images (B, 3, 64, 64) in [0, 1].
    `flags`: overrides of the official flag values."""
    if impl in ("ours", "ours_bf16", "ours_compiled"):
        from scenenb.models.genesis import Genesis, GenesisConfig
        model = Genesis(GenesisConfig.preset("gqn_rooms"))
        net = torch.compile(model) if impl == "ours_compiled" else model   # as fit(compile="default") trains it
        def loss(images, eager=False):
            out = (model if eager else net)(images)
            return (out.nll + out.kl).mean()
        return model, loss, net
    if impl == "official":
        _stub_official_deps()
        sys.path.insert(0, official)
        import utils
        utils.misc = sys.modules["utils.misc"]
        from models.genesis_config import Genesis
        # on a GPU, as its train.py does (set_default_tensor_type): tensors it keeps as plain attributes (PixelCoords'
        # grids) and those it makes in forward without a device must be born on the GPU
        if on_gpu: torch.set_default_device("cuda")
        config = _official_config()
        for key, value in (flags or {}).items(): setattr(config, key, value)
        model = Genesis(config)
        def loss(images, eager=False):
            _, losses, *_ = model(images)
            kl_m = torch.stack(losses.kl_m_k, dim=1).sum(1).mean(0)
            kl_l = torch.stack(losses.kl_l_k, dim=1).sum(1).mean(0) if "kl_l_k" in losses else 0.0
            return losses.err.mean(0) + kl_m + kl_l
        return model, loss, model
    _stub_genesis_pytorch_deps({"batch_size": batch})
    sys.path.insert(0, genesis_pytorch)
    from model import GENESIS
    from loss import genesis_loss
    with _CudaToCpu() if not on_gpu else contextlib.nullcontext():  # on a GPU its own .to('cuda') calls stand
        model = GENESIS(batch_size=batch)
    def loss(images, eager=False): return genesis_loss(images, model, None, 0.0)["loss"]
    return model, loss, model


def worker(impl: str, batch: int, threads: int, steps: int, warmup: int, official: str | None,
           genesis_pytorch: str | None) -> dict:
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(threads); torch.manual_seed(0)
    model, loss_fn, forward = build(impl, batch, official, genesis_pytorch)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=impl.startswith("ours") or None)   # each side's own training loop's Adam
    images = torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    bf16 = impl == "ours_bf16"   # the forward under CPU bfloat16 autocast; weights, gradients and Adam stay float32

    compiled = impl == "ours_compiled"

    def step(eager=False):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            value = loss_fn(images, eager=True) if eager else loss_fn(images)
        value.backward()
        opt.step()
        if not math.isfinite(value.item()): raise RuntimeError(f"{impl} batch {batch}: non-finite loss {value.item()}")
        return value.item()

    model.train()
    with FlopCounterMode(display=False) as counter:   # counted step = the first warm-up step (eager: the same arithmetic)
        value = step(eager=compiled)
    gflop = counter.get_total_flops() / batch / 1e9
    times, warm = [], max(warmup - 1, 0) + compiled   # a compiled model's first step compiles it: never timed
    t0 = time.perf_counter()
    for i in range(warm + steps):
        if i == warm: compile_s = time.perf_counter() - t0
        t = time.perf_counter(); value = step(); t = time.perf_counter() - t
        if i >= warm: times.append(t)
    model.eval()
    fwd = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        forward(images)
        for _ in range(steps):
            t = time.perf_counter(); forward(images); fwd.append((time.perf_counter() - t) / batch)
    return dict(impl=impl, batch=batch, params=params, gflop=gflop, steps=times, forward_ms=1000 * statistics.median(fwd),
                warmup_s=compile_s, thp=os.environ.get("THP_MEM_ALLOC_ENABLE", ""),
                rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, loss=value,
                threads=torch.get_num_threads(), interop=torch.get_num_interop_threads())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", help="extracted applied-ai-lab/genesis checkout (adds the 'official' rows)")
    p.add_argument("--genesis-pytorch", help="extracted pemami4911/genesis.pytorch checkout (adds the 'genesis_pytorch' rows)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of one subprocess per implementation")
    p.add_argument("--batches", type=int, nargs="+", default=[4, 32])
    p.add_argument("--only", choices=IMPLS, help="run one implementation only")
    p.add_argument("--bf16", action="store_true", help="add a row for ours under CPU bfloat16 autocast ('ours_bf16')")
    p.add_argument("--compiled", action="store_true", help="add a row for ours under torch.compile ('ours_compiled', float32)")
    p.add_argument("--thp", action="store_true", help="every worker with THP_MEM_ALLOC_ENABLE=1 (PyTorch's CPU allocator "
                                                      "asks for transparent huge pages for large tensors)")
    p.add_argument("--write", help="also write the table to this Markdown file")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]), a.threads, a.steps, a.warmup, a.official, a.genesis_pytorch)))
        return
    paths = {"official": a.official, "genesis_pytorch": a.genesis_pytorch}
    opted = {"ours_bf16": a.bf16, "ours_compiled": a.compiled}
    impls = [i for i in IMPLS if paths.get(i, True) and a.only in (None, i) and (opted.get(i, True) or a.only == i)]
    if not impls: sys.exit(f"nothing to run: --only {a.only} needs its path")
    runs = {(impl, b): [] for b in a.batches for impl in impls}
    for b in a.batches:
        for _ in range(a.rounds):   # alternate the implementations, so that load from other jobs hits all of them alike
            for impl in impls:
                cmd = [sys.executable, __file__, "--worker", impl, str(b), "--threads", str(a.threads),
                       "--steps", str(a.steps), "--warmup", str(a.warmup)] \
                      + (["--official", a.official] if a.official else []) \
                      + (["--genesis-pytorch", a.genesis_pytorch] if a.genesis_pytorch else [])
                out = subprocess.run(cmd, capture_output=True, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads),
                                          **({"THP_MEM_ALLOC_ENABLE": "1"} if a.thp else {})})
                if out.returncode: sys.exit(f"{impl} batch {b} failed:\n{out.stderr[-3000:]}")
                runs[impl, b].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(runs[impl, b][-1], file=sys.stderr, flush=True)
    rows = []
    for (impl, b), rs in runs.items():
        steps = [t for r in rs for t in r["steps"]]
        rows.append(dict(rs[0], median=statistics.median(steps), min=min(steps), n=len(steps),
                         forward_ms=statistics.median(r["forward_ms"] for r in rs), rss_mib=max(r["rss_mib"] for r in rs)))
    ref = {r["batch"]: r["median"] for r in rows if r["impl"] == "official"}
    load = os.getloadavg()
    first = rows[0]
    lines = [f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} cores; torch "
             f"{torch.__version__}, {first['threads']} intra-op / {first['interop']} inter-op threads "
             f"(OMP_NUM_THREADS={a.threads}), {platform.machine()}; median of {a.rounds}×{a.steps} steps ({a.rounds} "
             f"alternating subprocesses per row, each after {max(a.warmup, 1)} warm-up step(s)); K {K}, {SIZE}x{SIZE}, "
             f"two-stage, autoregressive + component priors, random images, Adam lr 1e-4 on mean(nll + kl)"
             + ("; every process with THP_MEM_ALLOC_ENABLE=1" if a.thp else ""), "",
             "| implementation | batch | params | GFLOP / training sample | s/step (median) | s/step (min) "
             "| speed-up vs official (median) | peak RSS (MiB) | forward ms/image |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = f"{ref[r['batch']] / r['median']:.2f}×" if r["batch"] in ref else "–"
        lines.append(f"| {r['impl']} | {r['batch']} | {r['params']:,} | {r['gflop']:.1f} | {r['median']:.3f} | {r['min']:.3f} "
                     f"| {speed} | {r['rss_mib']:.0f} | {r['forward_ms']:.1f} |")
    table = "\n".join(lines)
    print(table)
    if a.write:
        with open(a.write, "w") as f:
            f.write("# GENESIS training step: scenenb vs official and genesis.pytorch\n\n" + table + "\n\nProduced by `python "
                    + " ".join(["benchmarks/genesis_step.py"] + sys.argv[1:]) + "`\n")


if __name__ == "__main__":
    main()
