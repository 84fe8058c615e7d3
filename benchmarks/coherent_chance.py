"""What segmentation scores does chance give? fg-ARI and mSC of position-only partitions of generated scenes.

A segmentation that ignores the image can still score well on fg-ARI: compact objects tend to fall into different large
regions of any spatially coherent partition. This script scores such partitions on the same images the evaluations use,
so that a model's fg-ARI can be read against them:

- `voronoi K`: each pixel goes to the nearest of K centres drawn uniformly in the image (a fresh draw per image);
- `one slot`: every pixel in one segment (1 on single-object scenes, 0 otherwise);
- `pixels K`: every pixel drawn independently among K labels (no spatial coherence).

usage: python benchmarks/coherent_chance.py DATASET [--seed 1000] [--num-images 320] [--preset P] [--size S]
       [--voronoi 2 3 4] [--draws 10]

e.g. `python benchmarks/coherent_chance.py tetrominoes --seed 1000 --num-images 320 --preset emorl_tetrominoes` (what
eval_emorl scores) and `... tetrominoes --seed 0 --num-images 8` (the 8 images of the tiny-overfit trials). Prints one
Markdown table: mean ± std over images (each image's score averaged over its draws).
"""
import argparse

import torch

from scenenb.data.datasets import GeneratedObjects
from scenenb.metrics import coherent_chance, partition_scores


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dataset")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--num-images", type=int, default=320)
    p.add_argument("--preset", default=None)
    p.add_argument("--size", type=int, default=None, help="resize the images to S×S, as a model's image_size does")
    p.add_argument("--voronoi", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--draws", type=int, default=10)
    a = p.parse_args()
    data = GeneratedObjects(a.dataset, seed=a.seed, num_scenes=a.num_images, preset=a.preset, factors=False, size=a.size)
    true = torch.stack([example["mask"] for example in data]).long()
    true = true.view(true.shape[0], *true.shape[-2:])  # (B, H, W)
    background = data.background
    B, H, W = true.shape
    generator = torch.Generator().manual_seed(0)
    scored = {"one slot": partition_scores(true, [torch.zeros_like(true)], background)}
    for k in a.voronoi:
        scored[f"voronoi {k}"] = coherent_chance(true, k, draws=a.draws, seed=0, background_entities=background)
    for k in a.voronoi:
        scored[f"pixels {k}"] = partition_scores(true, [torch.randint(k, (B, H, W), generator=generator) for _ in range(a.draws)],
                                                 background)
    print(f"{a.dataset}, seed {a.seed}, first {B} images, {H}×{W}{', preset ' + a.preset if a.preset else ''}; "
          f"{a.draws} draws per image\n")
    print("| partition | fg-ARI | mSC |\n|---|---:|---:|")
    for name, r in scored.items():
        print(f"| {name} | {r['fg_ari']:.3f} ± {r['fg_ari_std']:.3f} | {r['msc']:.3f} ± {r['msc_std']:.3f} |")


if __name__ == "__main__":
    main()
