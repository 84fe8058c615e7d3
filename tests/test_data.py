"""The data layer end to end, with real processes: `scenenb data generate` in parallel, SIGKILLed and resumed; files that
validate; loaders with several DataLoader workers feeding a real training loop."""
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from conftest import BIN
from scenenb.data import generate
from scenenb.data.datasets import GeneratedObjects, GQNScenes, ObjectsDataset
from scenenb.data.formats import generate_dataset, validate


def _cli(*args, env):
    return subprocess.run([str(BIN / "scenenb"), "data", *args], capture_output=True, text=True, env=env, timeout=600)


def test_generate_in_parallel_kill_and_resume(tmp_path, child_env):
    out, n = tmp_path / "tetrominoes" / "train.h5", 12000
    cmd = [str(BIN / "scenenb"), "data", "generate", "tetrominoes", "--n", str(n), "--out", str(out),
           "--seed", "3", "--workers", "2", "--block-size", "64", "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env, start_new_session=True)
    parts = out.with_name("train.h5.parts")
    deadline = time.time() + 120
    while len(list(parts.glob("block-*.h5"))) < 4 and time.time() < deadline and p.poll() is None: time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL); p.wait()  # the command and its worker processes, as a killed job
    assert not out.exists(), "the run finished before it could be killed; make it longer"
    done = len(list(parts.glob("block-*.h5")))
    assert 4 <= done < n // 64

    r = subprocess.run(cmd, capture_output=True, text=True, env=child_env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not parts.exists()
    assert validate(out, deep=True) == []
    expected = generate("tetrominoes", n, seed=3, block_size=64)
    with h5py.File(out) as f:
        assert f["images"].shape[0] == n
        assert np.array_equal(f["images"][:], expected["images"]), "resumed file differs from an uninterrupted generation"
        assert np.array_equal(f["masks"][:], expected["masks"])
        for k, v in expected["factors"].items(): assert np.array_equal(f[f"factors/{k}"][:], v), k


def test_validate_command_reports_bad_files(tmp_path, child_env):
    good = generate_dataset("multi_dsprites_colored_on_grayscale", 20, out=tmp_path / "good.h5", workers=1, progress=False)
    r = _cli("validate", "--deep", str(good), env=child_env)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    r = _cli("validate", str(good), str(cut), env=child_env)
    assert r.returncode == 1 and str(cut) in r.stdout and f"{good}: ok" in r.stdout, r.stdout
    r = _cli("generate", "multi_dsprites_colored_on_grayscale", "--n", "30", "--out", str(good), env=child_env)
    assert r.returncode == 2 and "exists with other settings" in r.stderr and "Traceback" not in r.stderr


class _TinyVAE(nn.Module):
    "A few parameters, the model contract fit() needs: per-sample nll and kl."
    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Conv2d(3, 2, 4, 4), nn.ConvTranspose2d(2, 3, 4, 4)

    def forward(self, image, **_):
        recon = torch.sigmoid(self.dec(self.enc(image)))
        nll = ((recon - image) ** 2).flatten(1).sum(1)
        return dict(nll=nll, kl=torch.zeros_like(nll), recon=recon)


@pytest.mark.parametrize("source", ["file", "stream"])
def test_loaders_feed_training_with_workers(tmp_path, source):
    from scenenb.train import fit
    if source == "file":
        path = generate_dataset("multi_dsprites_colored_on_grayscale", 64, out=tmp_path / "md.h5", workers=1, progress=False)
        data = ObjectsDataset(path, one_hot_masks=True)
    else:
        data = GeneratedObjects("multi_dsprites_colored_on_grayscale", seed=1)
    result = fit(_TinyVAE(), data, steps=6, batch_size=8, num_workers=2, progress="none", device="cpu", lr=1e-2)
    assert result.step == 6 and result.history and all(np.isfinite(h["loss"]) for h in result.history)


def test_gqn_loader_with_workers(tmp_path):
    path = generate_dataset("shepard_metzler_5_parts", 8, out=tmp_path / "sm.h5", workers=1, progress=False)
    ds = GQNScenes(path)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=ds.context_query())
    for batch in loader:
        b, m = batch["context_views"].shape
        assert batch["context_images"].shape == (b, m, 3, 64, 64) and batch["query_pose"].shape == (b, 7)
        assert 1 <= m <= 14 and (batch["context_views"] != batch["query_view"][:, None]).all()


def test_stream_shards_over_ddp_ranks_and_workers(tmp_path, child_env):
    "2 torchrun ranks x 2 DataLoader workers stream generated scenes: together every scene once, no two shards alike."
    import json
    import sys

    from conftest import ROOT
    from test_ddp import _run
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
          str(ROOT / "tests" / "stream_ranks.py"), str(tmp_path)], child_env)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 and r1 and not set(r0) & set(r1), "two ranks streamed the same scene"
    assert sorted(r0 + r1) == list(range(64))


def test_emorl_clevr6_preset_on_generated_clevr(tmp_path):
    "EMORL's CLEVR6 pipeline on a real generated CLEVR file: crop 29:221 x 64:256, resize to 96, keep <= 6 objects."
    from scenenb.data.scenes3d import clevr6_filter
    path = generate_dataset("clevr_with_masks", 8, out=tmp_path / "clevr.h5", seed=4, block_size=4, workers=1, progress=False)
    with h5py.File(path) as f:
        keep = np.flatnonzero(clevr6_filter({k: f[f"factors/{k}"][:] for k in f["factors"]}))
        assert 0 < len(keep) < 8, f"seed 4 should give scenes on both sides of the filter, got {keep}"
        full_mask = f["masks"][int(keep[0]), 0]
    ds = ObjectsDataset(path, preset="emorl_clevr6_96", one_hot_masks=True)
    assert [int(ds[i]["index"]) for i in range(len(ds))] == keep.tolist()
    ex = ds[0]
    assert ex["image"].shape == (3, 96, 96) and ex["masks"].shape == (11, 1, 96, 96)
    assert set(ex["mask"].unique().tolist()) <= set(np.unique(full_mask[29:221, 64:256]).tolist())
