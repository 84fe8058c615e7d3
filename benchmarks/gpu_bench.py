"""Everything the GQN, GENESIS and EMORL issues ask to measure on a GPU, in one command (it runs anywhere: `--tiny
--device cpu` checks it on a CPU in seconds, and the tests do that).

1. Ceilings, measured on the device rather than taken from a datasheet: the rate of a large dense matrix product in
   bfloat16, TF32 and strict float32, and the bandwidth of a device-to-device copy (bytes read + bytes written).
2. Training steps. For each case (model, preset, batch) and precision:
     fp32   float32 with TF32 off (matrix products and cuDNN convolutions in strict float32)
     tf32   float32 tensors, TF32 allowed in matrix products and convolutions
     bf16   bfloat16 autocast (what `fit` uses on CUDA, `amp="auto"`), TF32 allowed for what stays float32
   it reports the median step time (forward, backward, fused Adam; CUDA events) after warm-up steps, samples/s, the
   measured peak of allocated memory (torch.cuda.max_memory_allocated over the timed steps, model and optimiser included)
   beside the fake-tensor count of `scenenb.train.estimate_training_memory` for the same step, the FLOPs of one step
   (torch.utils.flop_counter), the rate achieved and its fraction of the measured matrix-product ceiling of that
   precision. GQN cases add the forward-only render time per query view (`generate`).
   `--refs DIR` adds the public implementations found in DIR, each a read-only extraction kept outside the
   repository (carried to the device machine in an ignored folder): torch_gqn/ (iShohei220/torch-gqn; tower, L 12,
   unshared, batch 36: the bar of the GQN issue), genesis_official/ (applied-ai-lab/genesis) and genesis_pytorch/
   (pemami4911/genesis.pytorch) at K 7, 64x64, batch 32, emorl_official/ (pemami4911/EfficientMORL) at each EMORL
   case. They train on the same loss as in benchmarks/{gqn,genesis,emorl}_step.py. Every case runs in its own
   process, so that the references' module names cannot clash and each peak of memory is the case's own.
   `--compile [CASE ...]` adds bf16 rows with the model under torch.compile (default mode).
3. Writes gpu_bench.json and gpu_bench.md to `--out` and prints the table last.

usage: python benchmarks/gpu_bench.py [--device cuda] [--out DIR] [--cases gqn:paper:36 ...] [--precisions fp32 tf32 bf16]
                                      [--steps 20] [--warmup 5] [--refs DIR] [--compile [CASE ...]] [--budget S] [--tiny]
"""
import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_memory import object_centric, ours, torch_gqn  # noqa: E402  (the same builders as the memory counts)

from scenenb.train.memory import estimate_training_memory  # noqa: E402

CASES = ["gqn:paper:36", "gqn:tf_gqn:36", "genesis:gqn_rooms:32", "genesis:multi_dsprites:32",
         "emorl:tetrominoes:32", "emorl:multi_dsprites:32", "emorl:clevr6:32"]
TINY = {"gqn": dict(r_dim=16, hidden=8, canvas_channels=8, z_dim=2, steps=2),
        "genesis": dict(image_size=32, num_slots=3, mask_latent_dim=8, component_latent_dim=4, component_channels=8,
                        component_decoder_channels=8, prior_hidden=16),
        "emorl": dict(latent_dim=8, stochastic_layers=1, feature_dim=16, hidden_dim=32)}


def sync(device: torch.device):
    if device.type == "cuda": torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeat: int) -> list[float]:
    "Seconds per call of `fn`, `repeat` times (CUDA events on a GPU, the wall clock elsewhere)."
    out = []
    for _ in range(repeat):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(); fn(); end.record(); end.synchronize()
            out.append(start.elapsed_time(end) / 1e3)
        else:
            t = time.perf_counter(); fn(); out.append(time.perf_counter() - t)
    return out


@contextlib.contextmanager
def precision(name: str, device: torch.device):
    "fp32 (TF32 off), tf32, or bf16 autocast (TF32 on)."
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name != "fp32"
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=name == "bf16"): yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def ceilings(device: torch.device, size: int, repeat: int) -> dict:
    "Measured matrix-product rate (TFLOP/s) per precision, and copy bandwidth (GB/s, read + write)."
    out = {}
    for name, dtype in (("bf16", torch.bfloat16), ("tf32", torch.float32), ("fp32", torch.float32)):
        a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
        with precision("tf32" if name == "tf32" else "fp32", device):
            for _ in range(2): a @ b
            sync(device)
            t = statistics.median(timed(lambda: a @ b, device, repeat))
        out[f"matmul_{name}_tflops"] = 2 * size ** 3 / t / 1e12
    n = (1 << 28) if device.type == "cuda" else (1 << 22)   # 1 GiB of float32 on a GPU
    src, dst = torch.randn(n, device=device), torch.empty(n, device=device)
    dst.copy_(src); sync(device)
    t = statistics.median(timed(lambda: dst.copy_(src), device, repeat))
    out["copy_gbps"] = 2 * 4 * n / t / 1e9
    return out


def build_case(case: str, tiny: bool, refs: str | None, on_gpu: bool = False):
    "(build, loss, render or None, batch, description) for 'model:preset:batch'."
    model, preset, batch = case.split(":")
    batch = int(batch)
    if model == "gqn":
        build, loss = ours(preset, batch, **(TINY["gqn"] if tiny else {}))
        def render(m, x): return m.generate(*x[:3])
        return build, loss, render, batch, f"GQN {preset}, 5 context views"
    if model == "torch_gqn":
        build, loss = torch_gqn(str(Path(refs) / "torch_gqn"), batch)
        def render(m, x):
            with torch.no_grad(): return m.generate(*x[:3])
        return build, loss, render, batch, "torch-gqn tower, L 12, unshared, 5 context views"
    if model in ("genesis_official", "genesis_pytorch", "emorl_official"):   # built at once by the step scripts' builders
        if model == "emorl_official":
            import emorl_step
            net, images_loss, _ = emorl_step.build("official", preset, batch, str(Path(refs) / model))
            size, what = emorl_step.OFFICIAL_NET[preset]["input_size"][-1], f"official EfficientMORL {preset}"
        else:
            import genesis_step
            net, images_loss, _ = genesis_step.build("official" if model == "genesis_official" else "genesis_pytorch", batch,
                                                     str(Path(refs) / model), str(Path(refs) / model), on_gpu=on_gpu)
            size, what = genesis_step.SIZE, ("official GENESIS" if model == "genesis_official" else "genesis.pytorch") + f" K {genesis_step.K}"
        return (lambda: (net, torch.rand(batch, 3, size, size))), (lambda m, x: images_loss(x)), None, batch, f"{what}, {size}x{size}"
    kind = {"genesis": "GENESIS", "emorl": "EMORL", "emorl_ckpt": "EMORL"}[model]
    overrides = dict(checkpoint=True) if model == "emorl_ckpt" else {}   # EMORL with gradient checkpointing
    build, loss, size = object_centric(kind, preset, batch, **overrides)
    if tiny:
        from scenenb.models.emorl import EMORL, EMORLConfig
        from scenenb.models.genesis import Genesis, GenesisConfig
        if kind == "GENESIS":
            cfg = GenesisConfig.preset(preset, **TINY["genesis"])
            size = cfg.image_size
            def build(): return Genesis(cfg), torch.rand(batch, 3, size, size)
        else:
            cfg = EMORLConfig.preset(preset, **TINY["emorl"], **overrides)
            def build(): return EMORL(cfg), torch.rand(batch, 3, size, size)
    return build, loss, None, batch, f"{kind} {preset}{', checkpoint=True' if overrides else ''}, {size}x{size}"


def to(x, device):
    return tuple(t.to(device) for t in x) if isinstance(x, (tuple, list)) else (x.to(device),)


def measure(case: str, prec: str, a, device: torch.device, peak: dict) -> dict:
    build, loss, render, batch, what = build_case(case, a.tiny, a.refs, device.type == "cuda")
    row = dict(case=case, what=what, precision=prec + ("+compile" if a.compiling else ""), batch=batch)
    if device.type == "cuda":
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    torch.manual_seed(0)
    model, inputs = build()
    model = model.to(device)
    inputs = to(inputs, device)
    row["params"] = sum(p.numel() for p in model.parameters())
    net = torch.compile(model) if a.compiling else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=device.type in ("cuda", "cpu"))

    def step(m=net):
        with precision(prec, device):
            value = loss(m, inputs if len(inputs) > 1 else inputs[0])
        opt.zero_grad(set_to_none=True); value.backward(); opt.step()
        return value

    t0 = time.perf_counter()
    for _ in range(a.warmup): step()
    sync(device); row["warmup_s"] = time.perf_counter() - t0   # compilation included
    with FlopCounterMode(display=False) as counter:
        step(model)   # counted on the eager model: the same arithmetic, compiled or not
    row["gflop_per_step"] = counter.get_total_flops() / 1e9
    # the peak is that of the timed steps: under FlopCounterMode (a dispatch mode) torch.utils.checkpoint keeps far more
    # than it does outside it (EMORL clevr6 checkpoint=True, batch 4, CPU: 1.2 GiB resident without the counter, 4.2
    # with it, benchmarks/checkpoint_flopcounter.py; the first GPU run of this script reported the counted step's
    # peak), and cuDNN's autotuning in the warm-up steps is a one-off
    if device.type == "cuda": sync(device); torch.cuda.reset_peak_memory_stats(device)
    times = timed(step, device, a.steps)
    row["ms_per_step"], row["ms_min"] = 1e3 * statistics.median(times), 1e3 * min(times)
    row["samples_per_s"] = batch / statistics.median(times)
    row["tflops"] = row["gflop_per_step"] / statistics.median(times) / 1e3
    ceiling = peak.get(f"matmul_{prec}_tflops")
    row["fraction_of_matmul_peak"] = row["tflops"] / ceiling if ceiling else None
    if device.type == "cuda": row["peak_gib"] = (torch.cuda.max_memory_allocated(device) - base) / 2 ** 30
    if render is not None:
        model.eval()
        with precision(prec, device), torch.no_grad():
            render(model, inputs); sync(device)
            r = timed(lambda: render(model, inputs), device, max(3, a.steps // 4))
        row["render_ms_per_view"] = 1e3 * statistics.median(r) / batch
    del model, net, opt, inputs
    reference = case.split(":")[0] in ("genesis_official", "genesis_pytorch", "emorl_official")  # built eagerly: no fake count
    if a.count_memory and prec in ("fp32", "bf16") and not a.compiling and not reference:  # TF32: float32 tensors, fp32's count
        build, loss, *_ = build_case(case, a.tiny, a.refs)
        row["counted_gib"] = estimate_training_memory(build, loss, amp="bf16" if prec == "bf16" else "off").peak / 2 ** 30
    return row


def environment(device: torch.device) -> dict:
    env = dict(torch=torch.__version__, python=platform.python_version(), machine=platform.machine(), device=str(device),
               time=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2 ** 30, 1), sms=p.multi_processor_count,
                   capability=f"{p.major}.{p.minor}", cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    else:
        env.update(threads=torch.get_num_threads())
    return env


def table(result: dict) -> str:
    env, peak = result["environment"], result["ceilings"]
    head = (f"{env.get('gpu', env['device'])}, torch {env['torch']}"
            + (f", CUDA {env['cuda']}, cuDNN {env['cudnn']}" if "cuda" in env else f", {env.get('threads')} threads")
            + f"; {env['time']}; median of {result['steps']} steps after {result['warmup']} warm-up steps, random inputs")
    lines = [head, "",
             f"Measured ceilings: matrix product {peak['matmul_bf16_tflops']:.3g} TFLOP/s bf16, {peak['matmul_tf32_tflops']:.3g} "
             f"TF32, {peak['matmul_fp32_tflops']:.3g} fp32 ({result['matmul_size']}³); copy {peak['copy_gbps']:.0f} GB/s (read + write)", "",
             "| case | precision | batch | params | ms/step | samples/s | GFLOP/step | TFLOP/s | of matmul peak "
             "| peak memory (GiB) | counted (GiB) | render ms/view |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    f = lambda v, fmt: "" if v is None else fmt.format(v)
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['what']} | {r['precision']} | {r['batch']} | | failed: {r['error']} | | | | | | | |"); continue
        lines.append(f"| {r['what']} | {r['precision']} | {r['batch']} | {r['params'] / 1e6:.1f}M | {r['ms_per_step']:.1f} "
                     f"| {r['samples_per_s']:.1f} | {r['gflop_per_step']:.4g} | {r['tflops']:.3g} "
                     f"| {f(r.get('fraction_of_matmul_peak'), '{:.0%}')} | {f(r.get('peak_gib'), '{:.2f}')} "
                     f"| {f(r.get('counted_gib'), '{:.2f}')} | {f(r.get('render_ms_per_view'), '{:.2f}')} |")
    if result.get("skipped"): lines += ["", "Not run (the time budget was spent): " + ", ".join(result["skipped"])]
    return "\n".join(lines) + "\n"


REFERENCES = {"torch_gqn": ["torch_gqn:paper:36"], "genesis_official": ["genesis_official:gqn_rooms:32"],
              "genesis_pytorch": ["genesis_pytorch:gqn_rooms:32"],
              "emorl_official": ["emorl_official:tetrominoes:32", "emorl_official:multi_dsprites:32", "emorl_official:clevr6:32"]}


def worker(a, device: torch.device) -> None:
    "In a fresh process: the ceilings, or every row of one case; each result a `RESULT {json}` line on stdout."
    if a.worker == "ceilings":
        print("RESULT " + json.dumps(dict(environment=environment(device), ceilings=ceilings(device, a.matmul_size, max(3, a.steps)))),
              flush=True)
        return
    peak = json.loads(a.peak)
    plan = [("bf16", True)] if a.worker_compile else [(prec, False) for prec in a.precisions]
    for prec, compiling in plan:
        a.compiling = compiling
        try: row = measure(a.worker, prec, a, device, peak)
        except Exception as e:  # an out-of-memory or a failed compile ends the row, not the case
            traceback.print_exc()
            row = failed(a.worker, prec + ("+compile" if compiling else ""), f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}")
            if device.type == "cuda": torch.cuda.empty_cache()
        print("RESULT " + json.dumps(row), flush=True)


def failed(case: str, precision: str, error: str) -> dict:
    return dict(case=case, what=case, precision=precision, batch=int(case.split(":")[-1]), error=error)


def spawn(args: list[str]) -> tuple[list[dict], int]:
    "Run this script as a worker; pass its output through; return its results and exit status."
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, bufsize=1,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    results = []
    for line in proc.stdout:
        if line.startswith("RESULT "): results.append(json.loads(line[7:]))
        else: print(line, end="", flush=True)
    return results, proc.wait()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default=".")
    p.add_argument("--cases", nargs="+", default=None,
                   help="model:preset:batch (model: gqn, genesis, emorl, emorl_ckpt (checkpoint=True), or a reference: " + ", ".join(REFERENCES) + ")")
    p.add_argument("--precisions", nargs="+", default=None, choices=("fp32", "tf32", "bf16"))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--refs", default=None, help="folder of extracted public implementations (see above)")
    p.add_argument("--compile", nargs="*", default=None, metavar="CASE",
                   help="add bf16 rows with the model under torch.compile, for these cases (none named: every case of ours)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="start no further case once this many seconds have passed (a short lease); the table is still written")
    p.add_argument("--no-count", dest="count_memory", action="store_false", help="skip the fake-tensor memory counts")
    p.add_argument("--tiny", action="store_true", help="tiny models, batch 2, small ceilings: checks the script on a CPU")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-compile", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--peak", help=argparse.SUPPRESS)
    p.add_argument("--matmul-size", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    device = torch.device(a.device)
    a.precisions = a.precisions or (["fp32", "bf16"] if device.type == "cpu" else ["fp32", "tf32", "bf16"])
    a.matmul_size = a.matmul_size or (256 if a.tiny else (8192 if device.type == "cuda" else 2048))
    if a.worker: return worker(a, device)

    cases = a.cases or (["gqn:quick:2", "genesis:multi_dsprites:2", "emorl:tetrominoes:2"] if a.tiny else list(CASES))
    if a.refs and not a.cases:
        cases += [c for name, cs in REFERENCES.items() if (Path(a.refs) / name).is_dir() for c in cs]
    compiled = [] if a.compile is None else [c for c in (a.compile or cases) if c.split(":")[0] in ("gqn", "genesis", "emorl")]
    common = ["--device", a.device, "--steps", str(a.steps), "--warmup", str(a.warmup), "--precisions", *a.precisions,
              "--matmul-size", str(a.matmul_size)] + (["--refs", a.refs] if a.refs else []) + (["--tiny"] if a.tiny else []) + \
             ([] if a.count_memory else ["--no-count"])
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    found, rc = spawn(["--worker", "ceilings", *common])
    if rc or not found: sys.exit(f"measuring the ceilings failed (exit status {rc})")
    result = dict(environment=found[0]["environment"], steps=a.steps, warmup=a.warmup, matmul_size=a.matmul_size,
                  ceilings=found[0]["ceilings"], rows=[])
    print(json.dumps(result["environment"]), json.dumps(result["ceilings"]), flush=True)
    # every eager case first, then the compiled rows (each in its own process too): a compilation's minutes never hold
    # back the eager numbers when the lease is short
    started, skipped = time.perf_counter(), []
    for case, compiling in [(c, False) for c in cases] + [(c, True) for c in compiled]:
        if a.budget is not None and time.perf_counter() - started > a.budget:
            skipped.append(case + (" (compile)" if compiling else "")); continue
        rows, rc = spawn(["--worker", case, "--peak", json.dumps(result["ceilings"]), *common] + (["--worker-compile"] if compiling else []))
        expected = ["bf16+compile"] if compiling else list(a.precisions)
        rows += [failed(case, prec, f"the worker process ended with status {rc}") for prec in expected[len(rows):]]
        for row in rows: print(json.dumps(row), flush=True)
        result["rows"] += rows
        (out / "gpu_bench.json").write_text(json.dumps(result, indent=1))   # every finished case survives a time-out
    if skipped: print(f"not run, the {a.budget:g} s budget being spent: {', '.join(skipped)}", flush=True)
    result["skipped"] = skipped
    (out / "gpu_bench.json").write_text(json.dumps(result, indent=1))
    text = table(result)
    (out / "gpu_bench.md").write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
