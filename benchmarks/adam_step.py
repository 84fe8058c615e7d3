"""Time of one Adam optimiser step (no forward/backward) over the parameters of a real model: PyTorch's default CPU
implementation, `foreach=True`, and `fused=True` (what `scenenb.train.fit` builds by default, `FitConfig.fused`).

Every parameter gets a random gradient; each variant does 1 untimed step, then the best of `--steps` timed steps.

usage: python benchmarks/adam_step.py [--model gqn|genesis|emorl] [--threads 2] [--steps 5]
"""
import argparse
import time

import torch


def model_params(name: str):
    if name == "gqn":
        from scenenb.models.gqn import GQN, GQNConfig
        return list(GQN(GQNConfig.preset("paper")).parameters())
    if name == "genesis":
        from scenenb.models.genesis import Genesis, GenesisConfig
        return list(Genesis(GenesisConfig.preset("gqn_rooms")).parameters())
    from scenenb.models.emorl import EMORL, EMORLConfig
    return list(EMORL(EMORLConfig.preset("tetrominoes")).parameters())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gqn", choices=("gqn", "genesis", "emorl"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    params = model_params(a.model)
    for q in params: q.grad = torch.randn_like(q)
    print(f"{a.model}: {sum(q.numel() for q in params):,} parameters in {len(params)} tensors, {a.threads} threads, torch {torch.__version__}")
    print("| Adam | s/step (best of %d) |\n|---|---:|" % a.steps)
    for label, kw in [("default", {}), ("foreach", {"foreach": True}), ("fused", {"fused": True})]:
        opt = torch.optim.Adam(params, lr=1e-4, **kw); opt.step()
        times = []
        for _ in range(a.steps):
            t = time.perf_counter(); opt.step(); times.append(time.perf_counter() - t)
        print(f"| {label} | {min(times):.3f} |", flush=True)


if __name__ == "__main__":
    main()
