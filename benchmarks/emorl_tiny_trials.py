"""Does a sharper likelihood or another decoder get the small EMORL to segment 8 Tetrominoes on a CPU budget?

The setting of the slow test in `tests/test_experiments.py` (8 generated Tetrominoes, seed 0; the tetrominoes preset
with z 16, features 32, hidden 64, no refinement; 100-step `fit` calls with a fresh Adam each; batch 8; one thread),
with the decoder and the pixel σ as arguments. After every 100 steps it prints one JSON line: fg-ARI, ARI, mSC and MSE
of the final step on the 8 training images. Random spatially coherent partitions score fg-ARI 0.33/0.44/0.51 on them
(Voronoi cells of 2/3/4 centres: `python benchmarks/coherent_chance.py tetrominoes --seed 0 --num-images 8 --draws
100`), so segmentation means clearly above ≈ 0.5.

usage: python benchmarks/emorl_tiny_trials.py NAME --decoder {small,big,iodine} --sigma 0.1 [--likelihood {gaussian,gmm}]
       [--lr 7e-4] [--steps 1000] [--init torch|official] [--beta 1.0] [--refinement 0] [--seed 0]
       [--from-release NAME --images-seed 5] [--bug pixel_softmax] [--decoder-layers N] [--encoder-kernel K]

`--from-release` starts from a released model in weights/ instead of a new one (its own configuration: the decoder, σ,
likelihood and size arguments are then ignored) and trains it on 8 images of `--images-seed`, which it never saw when it
was trained on seed 0. `--bug pixel_softmax` plants a classic error to show what the read-outs do when the training path
is wrong: the decoder's mask logits normalised over the pixels instead of over the slots. `--decoder-layers N` replaces
the decoder with a deliberately weak one: a spatial broadcast decoder of N hidden 1×1 convolutions (width 32, ReLU), a
per-pixel MLP of the slot's latent and its position embedding, too weak to draw a whole layout sharply.
`--encoder-kernel K` rebuilds the encoder's four 5×5 convolutions as K×K (1: each pixel's features come from its colour
and position alone, so the slots' bottom-up attention can only group pixels by colour, as k-means on colours would).

`--init` defaults to `torch` (PyTorch's default initialisation), with which every table in emorl_tiny_trials.md was
measured; the model's own default became the official initialisation on 2026-12-04 (nbs/61, "Initialisation").
"""
import argparse
import json
import math
import time

from pathlib import Path

import torch
from torch.utils.data import Subset

import scenenb.models.emorl as emorl_module

from scenenb.data.datasets import GeneratedObjects
from scenenb.io import release_checkpoint
from scenenb.metrics import evaluate
from scenenb.nn.layers import SpatialBroadcastDecoder
from scenenb.models.emorl import EMORL, EMORLConfig, load_emorl
from scenenb.train import FitConfig, fit
from scenenb.train.objectives import ELBO, BetaELBO


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--decoder", default="small", choices=["small", "big", "iodine"])
    p.add_argument("--sigma", type=float, default=0.3)
    p.add_argument("--lr", type=float, default=7e-4)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--likelihood", default="gaussian", choices=["gaussian", "gmm"])
    p.add_argument("--init", default="torch", choices=["torch", "official"])
    p.add_argument("--beta", type=float, default=1.0, help="weight of the KL (1: the ELBO; 0: a plain autoencoder's loss)")
    p.add_argument("--refinement", type=int, default=0, help="iterative refinement steps I (the slow test: 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the model's initialisation (the images stay seed 0)")
    p.add_argument("--from-release", default=None, help="start from this model of weights/ (e.g. emorl_quick_tetrominoes_cpu40k)")
    p.add_argument("--images-seed", type=int, default=0, help="seed of the 8 generated images (the slow test: 0)")
    p.add_argument("--bug", default=None, choices=["pixel_softmax"], help="plant an error in the training path")
    p.add_argument("--decoder-layers", type=int, default=None, help="a weak decoder instead: N hidden 1x1 convolutions")
    p.add_argument("--encoder-kernel", type=int, default=None, help="the encoder's four convolutions with this odd kernel size (official: 5)")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.bug == "pixel_softmax": emorl_module.decode = decode_masks_over_pixels
    if a.decoder_layers is not None: emorl_module.image_decoder = lambda kind, latent_dim, output_channels: \
        SpatialBroadcastDecoder(latent_dim, output_channels, hidden_channels=32, num_layers=a.decoder_layers, kernel_size=1,
                                output_kernel_size=1, activation="relu")
    scenes = list(GeneratedObjects("tetrominoes", seed=a.images_seed, num_scenes=8, factors=False))
    torch.manual_seed(a.seed)
    if a.from_release:
        model = load_emorl(release_checkpoint(a.from_release, Path(__file__).resolve().parents[1] / "weights")).train()
    else:
        model = EMORL(EMORLConfig.preset("tetrominoes", refinement_iters=a.refinement, latent_dim=16, feature_dim=32,
                                          hidden_dim=64, decoder=a.decoder, log_scale=math.log(a.sigma),
                                          likelihood=a.likelihood, init=a.init))
    if a.encoder_kernel is not None: narrow_encoder_(model, a.encoder_kernel)
    start = time.time()
    r = evaluate(model, scenes, num_images=8, batch_size=8, seed=0)
    print(json.dumps({"name": a.name, "step": 0, "fg_ari": round(r["fg_ari"], 3), "ari": round(r["ari"], 3),
                      "msc": round(r["msc"], 3), "mse": round(r["mse"], 4), "seconds": 0}), flush=True)
    for part in range(a.steps // 100):
        fit(model, Subset(scenes, range(8)), FitConfig(steps=100, batch_size=8, lr=a.lr, device="cpu", progress="none",
            log_every=50, seed=1000 * a.seed + part), forward=lambda net, batch: net(batch["image"]),
            objective=ELBO() if a.beta == 1 else BetaELBO(a.beta))
        r = evaluate(model, scenes, num_images=8, batch_size=8, seed=0)
        print(json.dumps({"name": a.name, "step": 100 * (part + 1), "fg_ari": round(r["fg_ari"], 3), "ari": round(r["ari"], 3),
                          "msc": round(r["msc"], 3), "mse": round(r["mse"], 4), "seconds": round(time.time() - start)}), flush=True)


def narrow_encoder_(model, kernel_size):
    "Rebuild the encoder's four convolutions with `kernel_size` (same widths, fresh PyTorch initialisation), in place."
    if kernel_size < 1 or kernel_size % 2 == 0: raise SystemExit(f"--encoder-kernel must be odd and >= 1, got {kernel_size}")
    convs = model.encoder.convs
    for i, m in enumerate(convs):
        if isinstance(m, torch.nn.Conv2d):
            convs[i] = torch.nn.Conv2d(m.in_channels, m.out_channels, kernel_size, 1, kernel_size // 2)


def decode_masks_over_pixels(model, z, height, width):
    "scenenb.models.emorl.decode with a planted bug: log-softmax of the mask logits over the pixels, not the slots."
    B, K, _ = z.shape
    out = model.decoder(z.flatten(0, 1), height, width)
    out = out.view(B, K, *out.shape[1:])
    logits = out[:, :, -1:]
    return out[:, :, :-1].sigmoid(), logits.flatten(-2).log_softmax(-1).view_as(logits)


if __name__ == "__main__":
    main()
