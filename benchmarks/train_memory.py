"""How much GPU memory does a training step need? scenenb's GQN, GENESIS and EMORL presets (and torch-gqn), counted
with fake tensors on any machine.

Every row is `scenenb.train.memory.estimate_training_memory`: two training steps (forward, backward, fused Adam,
zero_grad) under FakeTensorMode, counting the bytes of live tensor storages (rounded to 512-byte blocks as the CUDA
caching allocator does). No arithmetic is done, so GQN's batch 36 at 64x64 takes seconds on a laptop. GQN: 5 context
views, 64x64 (32x32 for `quick`), the batch size each preset names (or `--batch`). GENESIS and EMORL: every preset at its
image size, batch 32 (the official configs' batch; or `--batch`), loss mean(nll + kl). `bf16` rows run the forward under
CPU bfloat16 autocast, standing in for CUDA autocast (what `fit` uses on a GPU, `amp="auto"`).

torch-gqn (iShohei220/torch-gqn, tower, L 12, unshared cores) is counted the same way when `--torch-gqn PATH` is
given: an extraction outside the repository, imported read-only:
  git --git-dir=/work/.mirror/iShohei220+torch-gqn/repo archive HEAD | tar -x -C /tmp/torch_gqn

The official EfficientMORL (pemami4911/EfficientMORL) is counted at its three configured datasets when
`--emorl-official PATH` is given, built as `emorl_step.py` builds it (its batch size is baked into the model):
  git --git-dir=/work/.mirror/pemami4911+EfficientMORL/repo archive HEAD | tar -x -C /tmp/emorl_official

`--check-rss 4 36` adds real CPU steps of the paper preset at those batch sizes (one thread: ~30 s at batch 4, ~5 min
at 36), each in a fresh subprocess, and compares
the growth of its resident memory (ru_maxrss after two steps minus before the model is built) with the count made
with real tensors: the count leaves out allocator overhead and oneDNN scratch buffers, so RSS should be a little
higher.

usage: python benchmarks/train_memory.py [--torch-gqn /tmp/torch_gqn] [--emorl-official /tmp/emorl_official] [--check-rss 4 36]
                                        [--write benchmarks/train_memory.md]
"""
import argparse
import json
import platform
import resource
import subprocess
from pathlib import Path
import sys

import torch

from scenenb.models.emorl import EMORL, EMORLConfig
from scenenb.models.genesis import Genesis, GenesisConfig
from scenenb.models.gqn import GQN, PRESET_IMAGE_SIZES, GQNConfig
from scenenb.train.memory import estimate_training_memory

CONTEXT = 5


def gqn_inputs(batch: int, size: int):
    return (torch.rand(batch, CONTEXT, 3, size, size), torch.rand(batch, CONTEXT, 7), torch.rand(batch, 7),
            torch.rand(batch, 3, size, size))


def ours(preset: str, batch: int, **overrides):
    size = PRESET_IMAGE_SIZES[preset]
    def build(): return GQN(GQNConfig.preset(preset, **overrides)), gqn_inputs(batch, size)
    def loss(model, x):
        out = model(*x)
        return (out.nll + out.kl).mean()
    return build, loss


def torch_gqn(path: str, batch: int):
    sys.path.insert(0, path)
    from model import GQN as TorchGQN
    torch.distributions.Distribution.set_default_validate_args(False)   # its Normal checks would read fake values
    def build(): return TorchGQN(representation="tower", L=12, shared_core=False), gqn_inputs(batch, 64)
    def loss(model, x): return -model(*x, 2.0).mean()
    return build, loss


def object_centric(kind: str, preset: str, batch: int, **overrides):
    "GENESIS or EMORL at one preset (with config overrides): build, loss and image size."
    if kind == "GENESIS":
        cfg = GenesisConfig.preset(preset, **overrides)
        size, make = cfg.image_size, lambda: Genesis(cfg)
    else:
        cfg = EMORLConfig.preset(preset, **overrides)
        size, make = EMORL_IMAGE_SIZES[preset], lambda: EMORL(cfg)
    def build(): return make(), torch.rand(batch, 3, size, size)
    def loss(model, x):
        out = model(x)
        return (out.nll + out.kl).mean()
    return build, loss, size


EMORL_IMAGE_SIZES = {"tetrominoes": 35, "multi_dsprites": 64, "clevr6": 96, "clevr": 128}
EMORL_OFFICIAL_PRESETS = ("tetrominoes", "multi_dsprites", "clevr6")


def official_emorl(path: str, preset: str, batch: int):
    "The official EfficientMORL at one of its configs, as benchmarks/emorl_step.py builds it: build, loss and image size."
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from emorl_step import build as build_step
    size = EMORL_IMAGE_SIZES[preset]
    def build():
        for name in [m for m in sys.modules if m == "lib" or m.startswith("lib.")]:
            del sys.modules[name]                 # its modules captured the previous preset's configuration
        model, loss, _ = build_step("official", preset, batch, path)
        model.benchmark_loss = loss
        return model, torch.rand(batch, 3, size, size)
    return build, lambda model, x: model.benchmark_loss(x), size


def rss_check(batch: int) -> dict:
    "In a fresh process: RSS growth of two real CPU steps of the paper preset, and the real-tensor count."
    code = f"""
import json, resource, torch
torch.set_num_threads(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from train_memory import ours
from scenenb.train.memory import estimate_training_memory
e = estimate_training_memory(*ours("paper", {batch}), fake=False, round_to=1)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(rss_growth=(after - before) * 1024, counted=e.peak)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--torch-gqn")
    p.add_argument("--emorl-official")
    p.add_argument("--batch", type=int, help="one batch size for every row instead of each preset's own")
    p.add_argument("--check-rss", type=int, nargs="*", default=[], metavar="BATCH")
    p.add_argument("--write")
    a = p.parse_args()
    gib = lambda n: f"{n / 2**30:.2f}"
    lines = [f"torch {torch.__version__}, {platform.machine()}; counted with fake tensors (no arithmetic), two steps, "
             f"fused Adam, {CONTEXT} context views, storages rounded to 512 bytes; GiB = 2^30 bytes", "",
             "| model | preset | batch | checkpointing | amp | parameters | Adam state | activations | peak (GiB) |",
             "|---|---|---:|---|---|---:|---:|---:|---:|"]
    rows = [("scenenb", name, {}) for name in ("paper", "gpu12gb", "gpu24gb", "gpu80gb")]
    rows += [("scenenb", "paper", dict(checkpoint=True))] + [("scenenb", name, {}) for name in ("tf_gqn", "quick")]
    if a.torch_gqn: rows.append(("torch-gqn", "tower, L 12", {}))
    for model, preset, overrides in rows:
        for amp in ("off", "bf16"):
            if model == "scenenb":
                cfg = GQNConfig.preset(preset, **overrides)
                batch = a.batch or cfg.batch_size
                build, loss = ours(preset, batch, **overrides)
                ckpt = "yes" if cfg.checkpoint else "no"
            else:
                batch = a.batch or 36
                build, loss = torch_gqn(a.torch_gqn, batch)
                ckpt = "no"
            e = estimate_training_memory(build, loss, amp=amp)
            lines.append(f"| {model} | {preset} | {batch} | {ckpt} | {amp} | {gib(e.parameters)} | {gib(e.optimizer_state)} "
                         f"| {gib(e.activations)} | **{gib(e.peak)}** |")
            print(lines[-1], flush=True)
    lines += ["", "GENESIS and EMORL, every preset at its image size:", "",
              "| model | preset | image | batch | checkpointing | amp | parameters | Adam state | activations | peak (GiB) |",
              "|---|---|---|---:|---|---|---:|---:|---:|---:|"]
    rows = [("GENESIS", preset, {}) for preset in GenesisConfig.presets()]
    rows += [("EMORL", preset, {}) for preset in EMORLConfig.presets()]
    rows += [("EMORL", preset, dict(checkpoint=True)) for preset in ("multi_dsprites", "clevr6", "clevr")]
    if a.emorl_official: rows += [("official EMORL", preset, {}) for preset in EMORL_OFFICIAL_PRESETS]
    for kind, preset, overrides in rows:
        batch = a.batch or 32
        if kind == "official EMORL": build, loss, size = official_emorl(a.emorl_official, preset, batch)
        else: build, loss, size = object_centric(kind, preset, batch, **overrides)
        ckpt = "yes" if overrides.get("checkpoint") else "no"
        for amp in ("off", "bf16"):
            e = estimate_training_memory(build, loss, amp=amp)
            lines.append(f"| {kind} | {preset} | {size}² | {batch} | {ckpt} | {amp} | {gib(e.parameters)} | {gib(e.optimizer_state)} "
                         f"| {gib(e.activations)} | **{gib(e.peak)}** |")
            print(lines[-1], flush=True)
    if a.check_rss:
        lines += ["", "Check on this CPU: the paper preset, two real float32 steps on one thread, in a fresh process each", "",
                  "| batch | resident memory growth (GiB) | live tensor bytes counted on the real tensors (GiB) | ratio |",
                  "|---:|---:|---:|---:|"]
    for batch in a.check_rss:
        r = rss_check(batch)
        lines.append(f"| {batch} | {gib(r['rss_growth'])} | {gib(r['counted'])} | {r['rss_growth'] / r['counted']:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if a.write:
        with open(a.write, "w") as f: f.write(text)
    print(text)


if __name__ == "__main__":
    main()
