"""A small training script the integration tests run as real processes (single, torchrun/DDP, killed and resumed).

usage: python tiny_train.py OUT_DIR --model {vae,ae} --steps N [--resume] [--sleep S] [--midsave-at K]
Writes OUT_DIR/final-rank{R}.pt (parameters, GECO state, the data indices each step saw) when training ends."""
import argparse
import io
import os
import sys
import time

import torch
from torch import nn

from scenenb.geco import EMORLGECO
from scenenb.train import FitConfig, WarmupDecay, fit


class Indexed(torch.utils.data.Dataset):
    "Fixed random images that also report which index was drawn."
    def __init__(self, n=48):
        g = torch.Generator().manual_seed(123)
        self.x = torch.rand(n, 1, 6, 6, generator=g)
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return {"images": self.x[i], "index": torch.tensor(i)}


class Tiny(nn.Module):
    "Autoencoder (`ae`: deterministic) or VAE (`vae`: one reparameterised sample per image)."
    def __init__(self, stochastic):
        super().__init__()
        self.stochastic = stochastic
        self.enc, self.dec = nn.Linear(36, 6), nn.Linear(3, 36)
        self.seen = []
    def forward(self, images, index):
        self.seen.append(index.tolist())
        mu, log_var = self.enc(images.flatten(1)).chunk(2, -1)
        z = mu + torch.randn_like(mu) * (0.5 * log_var).exp() if self.stochastic else mu
        recon = torch.sigmoid(self.dec(z)).view_as(images)
        nll = (0.5 * ((images - recon) / 0.2) ** 2).flatten(1).sum(-1)
        kl = 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum(-1)
        return {"recon": recon, "nll": nll, "kl": kl}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--model", choices=["vae", "ae"], default="vae")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--midsave-at", type=int, default=-1)
    a = p.parse_args()

    if a.midsave_at >= 0:  # die slowly in the middle of writing checkpoint `midsave_at`
        real_save = torch.save
        def half_save(obj, f, *args, **kw):
            if isinstance(obj, dict) and obj.get("step") == a.midsave_at:
                buf = io.BytesIO(); real_save(obj, buf); data = buf.getvalue()
                f.write(data[: len(data) // 2]); f.flush(); os.fsync(f.fileno())
                print("MIDSAVE", flush=True); time.sleep(600)
            return real_save(obj, f, *args, **kw)
        torch.save = half_save

    torch.manual_seed(0)
    model = Tiny(stochastic=a.model == "vae")
    def announce(info):
        print(f"STEP {info.step}", flush=True)
        if a.sleep: time.sleep(a.sleep)
    cfg = FitConfig(steps=a.steps, batch_size=a.batch, lr=1e-2, checkpoint_every=1, keep_checkpoints=3, progress="none",
                    clip_grad_norm=10.0, device="cpu")
    objective = EMORLGECO(target=-0.5, per="element", warm_start=2, step_size=1e-3)
    res = fit(model, Indexed(), cfg, out_dir=a.out, resume=a.resume, callbacks=[announce], objective=objective,
              lr_schedule=WarmupDecay(1e-2, warmup=3, every=10))
    rank = int(os.environ.get("RANK", "0"))
    if not res.interrupted:
        torch.save({"model": model.state_dict(), "objective": objective.state_dict(),
                    "seen": model.seen, "step": res.step}, os.path.join(a.out, f"final-rank{rank}.pt"))
    print(f"DONE {res.step} interrupted={res.interrupted}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
