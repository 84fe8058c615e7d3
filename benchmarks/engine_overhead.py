"""The training engine's own cost per step against a bare PyTorch loop on the same tiny model and data.

Both loops draw shuffled batches of 32 from the same TensorDataset through a DataLoader, run the same conv VAE
(32x32 RGB) and step Adam. The engine adds what it always does: learning-rate schedule, gradient-norm measurement,
finite checks, the objective protocol, TensorBoard scalars every 50 steps, callbacks. Checkpoints are left to the end
of the run and are outside the timed window (they cost what torch.save costs, once every `checkpoint_every` steps).

Per-step time is the interval between step 20 and the last step, from timestamps taken after each step; runs of the
two loops alternate, and the median over repeats is reported. Target: engine overhead under 5 %.

usage: python benchmarks/engine_overhead.py [--steps 220] [--repeats 5] [--threads 2] [--write benchmarks/engine_overhead.md]
"""
import argparse
import math
import platform
import statistics
import tempfile
import time

import torch
from torch import nn

from scenenb.train import fit


class ConvVAE(nn.Module):
    "A small convolutional VAE: 3x32x32 -> 2x(16) latent -> 3x32x32, Gaussian likelihood (sigma 0.1)."
    def __init__(self, latent=16):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(64 * 8 * 8, 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent, 64 * 8 * 8), nn.Unflatten(1, (64, 8, 8)), nn.ReLU(),
                                 nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 3, 4, 2, 1))

    def forward(self, images):
        mu, log_var = self.enc(images).chunk(2, -1)                               # (B, D) each
        z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()
        recon = torch.sigmoid(self.dec(z))                                        # (B, 3, 32, 32)
        nll = (0.5 * ((images - recon) / 0.1) ** 2 + math.log(0.1 * math.sqrt(2 * math.pi))).flatten(1).sum(-1)
        kl = 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum(-1)
        return {"recon": recon, "nll": nll, "kl": kl}


def data():
    return torch.utils.data.TensorDataset(torch.rand(1024, 3, 32, 32, generator=torch.Generator().manual_seed(0)))


def bare(steps):
    torch.manual_seed(0)
    model, stamps = ConvVAE(), []
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(data(), batch_size=32, shuffle=True, drop_last=True)
    step = 0
    while step < steps:
        for (x,) in loader:
            out = model(x)
            loss = (out["nll"] + out["kl"]).mean()
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
            step += 1; stamps.append(time.perf_counter())
            if step == steps: break
    return stamps


def engine(steps):
    torch.manual_seed(0)
    stamps = []
    with tempfile.TemporaryDirectory() as out:
        fit(ConvVAE(), data(), steps=steps, batch_size=32, lr=1e-3, progress="none", out_dir=out, log_every=50,
            checkpoint_every=10 * steps, device="cpu", callbacks=[lambda info: stamps.append(time.perf_counter())])
    return stamps[:steps]


def per_step(stamps, skip=20):
    return (stamps[-1] - stamps[skip]) / (len(stamps) - 1 - skip)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=220)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    b, e = [], []
    for _ in range(a.repeats):
        b.append(per_step(bare(a.steps))); e.append(per_step(engine(a.steps)))
    mb, me = statistics.median(b), statistics.median(e)
    overhead = 100 * (me - mb) / mb
    table = "\n".join([
        f"Engine overhead per step (conv VAE, 32x32x3, batch 32, CPU, {a.threads} threads, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}; median of {a.repeats} alternating runs of {a.steps} steps)",
        "",
        "| loop | ms/step (median) | all runs (ms) |",
        "|---|---|---|",
        f"| bare PyTorch | {1e3 * mb:.2f} | {', '.join(f'{1e3 * v:.2f}' for v in b)} |",
        f"| scenenb fit() | {1e3 * me:.2f} | {', '.join(f'{1e3 * v:.2f}' for v in e)} |",
        "",
        f"overhead: {overhead:+.1f} % (target < 5 %)",
    ])
    print(table)
    if a.write:
        with open(a.write, "w") as f:
            f.write(f"# Engine overhead\n\nCommand: `python benchmarks/engine_overhead.py --write {a.write}`\n\n{table}\n")


if __name__ == "__main__":
    main()
