"""The script a lent GPU runs (benchmarks/gpu_session.sh and the benchmark it calls) runs end to end here on a CPU, with
the smoke profile and tiny models, so that the few minutes of a GPU are never spent on a broken script: the benchmark
gives every case and precision a time, a FLOP count and a memory count; the training parts generate their data, train
(stopping at their time limit), evaluate, draw their figures and pack all of it into $OUT — with Jupyter made
unimportable, as on the GPU machine, so every experiment notebook runs through the plain engine."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import h5py
import pytest

from conftest import BIN, ROOT, without_jupyter


def _session(part, tmp_path, env, *args, **settings):
    env = dict(without_jupyter(tmp_path, env), PATH=os.pathsep.join([str(BIN), env["PATH"]]), PROFILE="smoke", DEVICE="cpu",
               OUT=str(tmp_path / "out"), ROOT_DIR=str(tmp_path / "root"), TRAIN_N="8", TEST_N="4")
    env.update(settings)
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh"), part, *args], capture_output=True, text=True,
                       env=env, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"== gpu_session {part} done" in (Path(env["OUT"]) / f"{part}.log").read_text()
    return r.stdout


def test_the_gpu_benchmark_part_runs_tiny_on_cpu(tmp_path, child_env):
    stdout = _session("bench", tmp_path, child_env)
    result = json.loads((tmp_path / "out" / "gpu_bench.json").read_text())
    rows = result["rows"]
    assert [(row["case"], row["precision"]) for row in rows] == [
        (c, p) for c in ("gqn:quick:2", "genesis:multi_dsprites:2", "emorl:tetrominoes:2") for p in ("fp32", "bf16")]
    for row in rows:
        assert "error" not in row, row
        assert row["ms_per_step"] > 0 and row["gflop_per_step"] > 0 and row["counted_gib"] > 0 and 0 < row["fraction_of_matmul_peak"]
    assert all(row["render_ms_per_view"] > 0 for row in rows if row["case"].startswith("gqn"))
    assert result["ceilings"]["matmul_fp32_tflops"] > 0 and result["ceilings"]["copy_gbps"] > 0
    table = (tmp_path / "out" / "gpu_bench.md").read_text()
    assert table.count("\n| GQN quick") == 2 and "| case | precision |" in table and table in stdout
    static = (tmp_path / "out" / "gqn_static_conv.md").read_text()      # benchmarks/gqn_static_conv.py, both modes timed
    assert "\n| stacked | " in static and "\n| per_step | " in static and "GQN `quick` preset, batch 2" in static


@pytest.mark.parametrize("part,records", [
    ("gqn", ["runs/smoke/gqn_rooms/run.json", "figures/smoke/gqn_rooms_eval.json", "figures/smoke/gqn_rooms_orbit.gif"]),
    ("objects", ["runs/smoke/genesis_multi_dsprites/run.json", "figures/smoke/genesis_multi_dsprites.json",
                 "figures/smoke/genesis_multi_dsprites_samples.png", "runs/smoke/emorl_tetrominoes/run.json",
                 "figures/smoke/emorl_tetrominoes.json", "figures/smoke/emorl_tetrominoes_slots.png"])])
def test_the_gpu_training_parts_run_on_cpu(part, records, tmp_path, child_env):
    _session(part, tmp_path, child_env, "0.01")
    for dataset in {"gqn": ["rooms_ring_camera"], "objects": ["multi_dsprites_colored_on_colored", "tetrominoes"]}[part]:
        for split in ("train", "test"): assert (tmp_path / "root" / "data" / dataset / f"{split}.h5").exists()
    with tarfile.open(tmp_path / "out" / f"{part}.tgz") as tar: names = set(tar.getnames())
    for name in records: assert name in names, (name, sorted(names))
    assert not any("checkpoints" in n for n in names)


def test_the_gpu_benchmark_stops_starting_cases_when_its_budget_is_spent(tmp_path, child_env):
    "A short lease: with `--budget 0` the ceilings are measured, no case is started, and the table says which were not run."
    r = subprocess.run([str(BIN / "python"), str(ROOT / "benchmarks" / "gpu_bench.py"), "--device", "cpu", "--tiny",
                        "--out", str(tmp_path), "--budget", "0", "--cases", "gqn:quick:2", "--compile", "gqn:quick:2"],
                       capture_output=True, text=True, env=child_env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert result["rows"] == [] and result["skipped"] == ["gqn:quick:2", "gqn:quick:2 (compile)"]
    assert "Not run (the time budget was spent): gqn:quick:2, gqn:quick:2 (compile)" in (tmp_path / "gpu_bench.md").read_text()


def test_the_gpu_gqn_part_runs_the_paper_profile_on_its_files(tmp_path, child_env):
    """What the GPU runs: the paper profile's parameters on HDF5 files (the smoke profile generates its test scenes
    instead), with a tiny model so that it takes a minute here. The test file holds 3 scenes where the paper profile's
    evaluation asks for 1,000: it must read what is there and stop (on the GPU it once read past the end of the file)."""
    tiny = '{"r_dim":16,"hidden":8,"canvas_channels":8,"z_dim":2,"steps":2}'
    _session("gqn", tmp_path, child_env, "0.02", PROFILE="paper", TEST_N="3",
             GQN_ARGS=f"-p config_overrides {tiny} -p batch_size 2 -p num_workers 0 -p log_every 1")
    for split, n in (("train", 8), ("test", 3)):
        with h5py.File(tmp_path / "root" / "data" / "rooms_ring_camera" / f"{split}.h5") as f: assert len(f["images"]) == n, split
    with tarfile.open(tmp_path / "out" / "gqn.tgz") as tar: names = set(tar.getnames())
    for name in ["runs/paper/gqn_rooms/run.json", "figures/paper/gqn_rooms_eval.json", "figures/paper/gqn_rooms_views.png",
                 "figures/paper/gqn_rooms_orbit.gif"]:
        assert name in names, (name, sorted(names))
    evaluation = json.loads((tmp_path / "root" / "figures" / "paper" / "gqn_rooms_eval.json").read_text())
    assert evaluation["num_scenes"] == 3, evaluation.get("num_scenes")


def test_the_gpu_objects_part_runs_the_paper_profile_on_its_files(tmp_path, child_env):
    "The same for GENESIS and EMORL: paper-profile evaluations ask for 320 test images of a 3-image file."
    genesis = '{"num_slots":3,"mask_latent_dim":8,"component_latent_dim":4,"component_channels":8,"component_decoder_channels":8,"prior_hidden":16}'
    emorl = '{"latent_dim":8,"stochastic_layers":1,"feature_dim":16,"hidden_dim":32}'
    small = "-p batch_size 2 -p num_workers 0 -p log_every 1"
    _session("objects", tmp_path, child_env, "0.02", PROFILE="paper", TEST_N="3",
             GENESIS_ARGS=f"-p config_overrides {genesis} {small}", EMORL_ARGS=f"-p config_overrides {emorl} -p refinement_iters 1 {small}")
    with tarfile.open(tmp_path / "out" / "objects.tgz") as tar: names = set(tar.getnames())
    for name in ["runs/paper/genesis_multi_dsprites/run.json", "figures/paper/genesis_multi_dsprites.json",
                 "figures/paper/genesis_multi_dsprites_samples.png", "runs/paper/emorl_tetrominoes/run.json",
                 "figures/paper/emorl_tetrominoes.json", "figures/paper/emorl_tetrominoes_slots.png"]:
        assert name in names, (name, sorted(names))
    for name in ("genesis_multi_dsprites", "emorl_tetrominoes"):
        record = json.loads((tmp_path / "root" / "figures" / "paper" / f"{name}.json").read_text())
        assert record["num_images"] == 3, (name, record.get("num_images"))


def test_the_gpu_emorl_part_resumes_from_what_the_last_lease_returned(tmp_path, child_env):
    """A run longer than a lease: each call returns `emorl_resume.tgz` (the newest checkpoint, run.json, the TensorBoard
    curve), and the next call, on a fresh machine, goes on from it (`RESUME=`) — same steps, one curve."""
    tiny = '{"latent_dim":8,"stochastic_layers":1,"feature_dim":16,"hidden_dim":32}'
    common = dict(PROFILE="paper", TEST_N="3",
                  EMORL_ARGS=f"-p config_overrides {tiny} -p refinement_iters 1 -p batch_size 2 -p num_workers 0 -p log_every 1")
    _session("emorl", tmp_path, child_env, "0.02", **common)
    with tarfile.open(tmp_path / "out" / "emorl_resume.tgz") as tar: names = tar.getnames()
    checkpoints = [n for n in names if n.startswith("checkpoints/ckpt-")]
    assert len(checkpoints) == 1 and "run.json" in names and any(n.startswith("tb/") for n in names), names
    first = int(checkpoints[0].split("-")[1].split(".")[0])
    carried = tmp_path / "carried.tgz"; carried.write_bytes((tmp_path / "out" / "emorl_resume.tgz").read_bytes())
    # the next lease: a fresh machine (new root, data generated again, same seed), the carried archive
    lease2 = tmp_path / "lease2"; lease2.mkdir()
    _session("emorl", lease2, child_env, "0.02", RESUME=str(carried), **common)
    run = json.loads((lease2 / "root" / "runs" / "paper" / "emorl_tetrominoes" / "run.json").read_text())
    steps = [h["step"] for h in run["history"]]
    assert steps[0] <= first < steps[-1], (first, steps[:3], steps[-3:])      # the first lease's curve, then more
    events = sorted((lease2 / "root" / "runs" / "paper" / "emorl_tetrominoes" / "tb").glob("events.*"))
    assert len(events) == 2, events                                           # the carried part's and this one's
    assert json.loads((lease2 / "root" / "figures" / "paper" / "emorl_tetrominoes.json").read_text())["num_images"] == 3



PARITY = [("emorl_parity.py", "emorl_official", "lib/model.py", "official used 9 of 9 draws", ["--official"]),
          ("genesis_parity.py", "genesis_official", "models/genesis_config.py", "draws used: official 8, ours 8 of 8", ["--official"]),
          ("gqn_parity.py", "torch_gqn", "model.py", "draws used: torch-gqn 3 of 3 per pass",
           ["--representation", "pool", "--steps", "3", "--context", "2", "--torch-gqn"])]


@pytest.mark.parametrize("script, refs, source, draws, args", PARITY, ids=["emorl", "genesis", "gqn_torch_gqn"])
def test_the_model_is_the_official_network_given_its_weights_and_noise(script, refs, source, draws, args, child_env):
    """load_official_* (load_torch_gqn for GQN) + the same standard-normal draws: every output and gradient matches the
    reference code's. Needs that code extracted into .refs/ (benchmarks/GPU.md, 'Before the first call'); a clean clone
    has none."""
    official = ROOT / ".refs" / refs
    if not (official / source).is_file(): pytest.skip(f"needs the official code extracted into .refs/{refs} (benchmarks/GPU.md, "
                                                      "'Before the first call'); a clean clone has none")
    r = subprocess.run([sys.executable, f"benchmarks/{script}", "--check", *args, str(official)],
                       capture_output=True, text=True, env=child_env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "largest output difference" in r.stdout and draws in r.stdout


def test_the_slot_symmetry_read_outs_see_keys_and_dead_channels():
    """benchmarks/emorl_slot_symmetry.py, the read-out behind figures/emorl_quick_long ("What keeps the slots alike"):
    keys that are the same at every pixel give no attention logit spread and attention of exactly 1/K, and a convolution
    whose channels are all switched off reads as dead, with no variation across pixels left."""
    import importlib.util

    import torch

    from scenenb.models.emorl import EMORL, EMORLConfig
    spec = importlib.util.spec_from_file_location("emorl_slot_symmetry", ROOT / "benchmarks" / "emorl_slot_symmetry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = EMORL(EMORLConfig.preset("tetrominoes", latent_dim=8, feature_dim=16, hidden_dim=32, refinement_iters=0,
                                      init="torch")).eval()   # the official init starts keys at ≈ 0
    images = torch.rand(2, 3, 35, 35)
    alive = module.symmetry(model, images)
    assert alive["key_spread"] > 0 and alive["logit_spread"] > 0 and alive["attention_dev"][0] > 0
    assert alive["dead_channels"][0] < 1 and 0 < alive["conv_spread"] <= 1 and 0 < alive["norm_spread"] <= 1
    with torch.no_grad():
        model.encoder.convs[-2].bias.fill_(-1e4)               # the last convolution's ReLU is off everywhere
        model.posterior.to_k.weight.zero_()                    # and every key is the same
    dead = module.symmetry(model, images)
    assert dead["dead_channels"][-1] == 1.0 and dead["conv_spread"] == 0.0
    assert dead["key_spread"] == 0 and dead["logit_spread"] == 0 and dead["attention_dev"][0] < 1e-6


def test_the_checkpoint_curve_sweeps_test_time_refinement(tmp_path, child_env):
    """benchmarks/checkpoint_curve.py --refinement-iters: one JSON line per checkpoint and number of test-time refinement
    steps, each evaluated at that number (refinement changes the posterior, so the KL differs), and a second run over the
    same folder skips every pair it already has and adds only the new ones."""
    import torch

    from scenenb.io import save_checkpoint
    from scenenb.models.emorl import EMORL, EMORLConfig
    torch.manual_seed(0)
    config = EMORLConfig.preset("tetrominoes", latent_dim=8, feature_dim=8, hidden_dim=16, refinement_iters=1)
    save_checkpoint(tmp_path / "ckpts" / "ckpt-00000007.pt", {"model": EMORL(config).state_dict(), "model_config": config.to_dict(), "step": 7})
    out = tmp_path / "curve.jsonl"

    def curve(*iters):
        r = subprocess.run([sys.executable, "benchmarks/checkpoint_curve.py", str(tmp_path / "ckpts"), str(out),
                            "--model", "emorl", "--num-images", "4", "--refinement-iters", *map(str, iters)],
                           capture_output=True, text=True, env=child_env, timeout=300, cwd=ROOT)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        return [json.loads(line) for line in out.read_text().splitlines()]

    first = curve(0, 2)
    assert [(r["step"], r["iters"]) for r in first] == [(7, 0), (7, 2)]
    assert first[0]["kl"] != first[1]["kl"]
    assert [(r["step"], r["iters"]) for r in curve(0, 2, 3)] == [(7, 0), (7, 2), (7, 3)]
