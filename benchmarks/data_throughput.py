"""Data-layer throughput on this machine: every generator on one core, and the HDF5 loader with 2 workers.

    python benchmarks/data_throughput.py [--seconds 3] [--datasets a,b] [--loader-scenes 20000] [--out benchmarks/data_throughput.md]

Prints a Markdown table (and writes it to --out). Targets (issue 3, 2-core machine): 2D generators >= 2,000 scenes/s,
3D >= 200 views/s at 64x64, loader >= 5,000 images/s at 64x64 with 2 workers."""
import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from scenenb.data import block_rng, dataset_info, list_datasets
from scenenb.data.datasets import ObjectsDataset, GQNScenes
from scenenb.data.formats import generate_dataset


def generator_rate(name: str, seconds: float, **override) -> tuple[float, int]:
    "Scenes per second of `name`'s generator on one core (whole blocks, after one warm-up block); `override`: options."
    torch.set_num_threads(1)
    info = dataset_info(name)
    options = {**info.options, **override}
    make = lambda j: info.generate(info.block_size, block_rng(0, j), **options)
    make(0)
    done, j, t0 = 0, 1, time.perf_counter()
    while time.perf_counter() - t0 < seconds or j < 3:
        make(j); done += info.block_size; j += 1
    return done / (time.perf_counter() - t0), info.block_size


def loader_rate(dataset, batch_size: int = 64, workers: int = 2, collate=None, epochs: int = 2) -> float:
    "Images (or scenes, for GQN) per second through a shuffling DataLoader, after a warm-up epoch."
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         persistent_workers=True, collate_fn=collate)
    for _ in loader: pass
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader: n += len(batch["index"])
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--datasets", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--loader-scenes", type=int, default=20000)
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    args = ap.parse_args()
    names = args.datasets.split(",") if args.datasets else list_datasets()
    rows = ["| dataset | views x size | block | scenes/s (1 core) | views/s (1 core) | target |", "|---|---|---|---|---|---|"]
    runs = [(name, {}) for name in names]
    runs += [(name, dict(height=64, width=64)) for name in names if name.startswith("clevr")]  # the 3D target is at 64x64
    for name, override in runs:
        info = dataset_info(name)
        rate, block = generator_rate(name, args.seconds, **override)
        h, w = override.get("height", info.height), override.get("width", info.width)
        if (h, w) != (64, 64) and info.height > 64: target, ok = "(320x240: no target; 64x64 row below)", None
        elif info.views > 1 or name.startswith(("clevr", "objects_room")): target, ok = ">= 200 views/s", rate * info.views >= 200
        else: target, ok = ">= 2,000 scenes/s", rate >= 2000
        verdict = "" if ok is None else (" met" if ok else " MISSED")
        rows.append(f"| {name} | {info.views} x {h}x{w} | {block} | {rate:,.0f} | {rate * info.views:,.0f} | {target}{verdict} |")
        print(rows[-1], flush=True)
    lrows = ["| loader (2 workers, batch 64, shuffled) | file | images/s |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind in [("multi_dsprites_colored_on_grayscale", "objects"), ("tetrominoes", "objects"),
                           ("shepard_metzler_7_parts", "gqn")]:
            if name not in list_datasets(): continue
            n = args.loader_scenes if kind == "objects" else max(16, args.loader_scenes // 15)
            path = generate_dataset(name, n, out=Path(tmp) / f"{name}.h5", seed=0, workers=2, progress=False)
            size = f"{n} scenes, {path.stat().st_size / 2**20:.0f} MiB"
            if kind == "objects": rate = loader_rate(ObjectsDataset(path))
            else:
                ds = GQNScenes(path)
                rate = loader_rate(ds, batch_size=16, collate=ds.context_query()) * dataset_info(name).views
            lrows.append(f"| {name} ({'all views + context/query collate' if kind == 'gqn' else 'image, mask, factors'}) | {size} | {rate:,.0f} |")
            print(lrows[-1], flush=True)
    head = f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}.\n\n"
    text = head + "\n".join(rows) + "\n\n" + "\n".join(lrows) + "\n"
    Path(args.out).write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
