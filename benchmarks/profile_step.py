"""Where does one float32 training step of a scenenb model spend its time on this CPU, and how fast could it get?

Builds one preset (`genesis`: GENESIS `gqn_rooms`, K 7, 64x64; `gqn`: GQN `paper`, tower, L 12, 5 context views;
`emorl`: EMORL `tetrominoes`, 35x35), runs `--warmup` untimed training steps (forward + backward + fused Adam on
mean(nll + kl), random inputs), then profiles `--steps` steps with torch.profiler and groups the operators' self time:

  convolution   aten convolution / convolution_backward and the oneDNN kernels under them
  matmul        mm / addmm / bmm (linear layers, LSTM cells)
  norm          batch / group / layer norm, forward and backward
  optimizer     the Adam step
  other         everything else (element-wise activations, sampling, KL, copies, autograd bookkeeping)

The FLOPs of the convolutions and matrix products are counted with torch.utils.flop_counter on the same step, so the
table also gives the rate each group achieves. The last line is Amdahl's bound: how much faster the step would be if
everything except the convolutions (or except convolutions and matrix products) took no time at all while those ran at
today's rate. It answers whether a float32 step of the same architecture can get 1.5x faster on this machine without
doing fewer FLOPs.

usage: python benchmarks/profile_step.py {genesis,gqn,emorl} [--batch 8] [--threads 2] [--steps 2] [--warmup 1]
"""
import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

GROUPS = {
    "convolution": ("conv", "mkldnn_convolution"),
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear"),
    "norm": ("batch_norm", "group_norm", "layer_norm"),
    "optimizer": ("adam", "Optimizer"),
}


def group_of(name: str) -> str:
    low = name.lower()
    for group, keys in GROUPS.items():
        if any(k.lower() in low for k in keys):
            return group
    return "other"


def build(model_name: str, batch: int):
    "A model and a function that returns the training loss, mean(nll + kl), on fixed random inputs."
    torch.manual_seed(0)
    if model_name == "genesis":
        from scenenb.models.genesis import Genesis, GenesisConfig
        model, inputs = Genesis(GenesisConfig.preset("gqn_rooms")), (torch.rand(batch, 3, 64, 64),)
    elif model_name == "gqn":
        from scenenb.models.gqn import GQN, GQNConfig
        model = GQN(GQNConfig.preset("paper"))
        inputs = (torch.rand(batch, 5, 3, 64, 64), torch.randn(batch, 5, 7), torch.randn(batch, 7), torch.rand(batch, 3, 64, 64))
    elif model_name == "emorl":
        from scenenb.models.emorl import EMORL, EMORLConfig
        model, inputs = EMORL(EMORLConfig.preset("tetrominoes")), (torch.rand(batch, 3, 35, 35),)
    else:
        raise ValueError(f"model must be genesis, gqn or emorl, got {model_name!r}")

    def loss():
        out = model(*inputs)
        return (out.nll + out.kl).mean()
    return model, loss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=["genesis", "gqn", "emorl"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model, loss = build(a.model, a.batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)

    def step():
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = defaultdict(float)
    for op, n in counter.get_flop_counts().get("Global", {}).items():
        flops["convolution" if "conv" in str(op) else "matmul"] += n
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(a.steps):
            step()
    wall = (time.perf_counter() - start) / a.steps
    seconds = defaultdict(float)
    for ev in prof.key_averages():
        seconds[group_of(ev.key)] += ev.self_cpu_time_total / 1e6 / a.steps
    total = sum(seconds.values())

    print(f"{a.model}: batch {a.batch}, {a.threads} thread(s), torch {torch.__version__}, "
          f"{sum(q.numel() for q in model.parameters()):,} parameters; mean of {a.steps} profiled steps, "
          f"{wall:.2f} s/step by the wall clock (profiler included)\n")
    print("| group | s/step | share | GFLOP/step | GFLOP/s |")
    print("|---|---:|---:|---:|---:|")
    for g in ("convolution", "matmul", "norm", "optimizer", "other"):
        gf = flops.get(g, 0.0) / 1e9
        rate = f"{gf / seconds[g]:.0f}" if gf and seconds[g] else ""
        print(f"| {g} | {seconds[g]:.3f} | {100 * seconds[g] / total:.1f} % | {gf:.1f} | {rate} |" if gf else
              f"| {g} | {seconds[g]:.3f} | {100 * seconds[g] / total:.1f} % | | |")
    print(f"| all | {total:.3f} | 100 % | {sum(flops.values()) / 1e9:.1f} | {sum(flops.values()) / 1e9 / total:.0f} |")
    conv, mm = seconds["convolution"], seconds["matmul"]
    print(f"\nAmdahl's bound at today's kernel rates: {total / conv:.2f}x faster if everything but the convolutions were "
          f"free, {total / (conv + mm):.2f}x if everything but convolutions and matrix products were.")


if __name__ == "__main__":
    main()
