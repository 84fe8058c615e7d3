"""`scenenb reproduce` runs the registered experiments through the real papermill (python3 kernel) with the smoke profile:
every experiment runs, a second run skips up-to-date steps, a changed parameter re-runs exactly that step and what
depends on it, and a notebook broken on purpose is reported by cell, traceback and path while the rest still runs.
The same graph runs with the plain engine where Jupyter cannot even be imported, and a training notebook run that
way ends on a checkpoint when its time limit is spent or when `scenenb run` receives SIGTERM. Two runs of the profile in
fresh processes give the same weights and the same scores."""
import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from conftest import BIN, ROOT, without_jupyter
from scenenb.models.genesis import gaussian_goal
from scenenb.repro import EXPERIMENTS, EXPERIMENTS_DIR, Context, Experiment, read_manifest, register, reproduce, run_order

ORDER = ["train_emorl", "eval_emorl", "fig_emorl_slots", "fig_emorl_traversals",
         "train_gqn", "eval_gqn", "fig_gqn_views", "fig_gqn_orbit",
         "train_genesis", "eval_genesis", "fig_genesis_recon", "fig_genesis_samples"]
GQN = ["train_gqn", "eval_gqn", "fig_gqn_views", "fig_gqn_orbit"]


def test_registry_covers_every_experiment_notebook():
    assert run_order(EXPERIMENTS) == ORDER
    notebooks = {p.name for p in EXPERIMENTS_DIR.glob("*.ipynb")}
    assert {Path(e.notebook).name for e in EXPERIMENTS.values()} == notebooks, "an experiment notebook is not registered"
    for exp in EXPERIMENTS.values():
        assert set(exp.parameters) == {"smoke", "quick", "paper"}, exp.name


def test_smoke_profile_runs_skips_and_reruns_what_changed(tmp_path, child_env):
    root = tmp_path / "root"
    # 1. the real command: every experiment of the smoke profile runs, in dependency order
    r = subprocess.run([str(BIN / "scenenb"), "reproduce", "--profile", "smoke", "--root", str(root)],
                       capture_output=True, text=True, env=child_env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for i, name in enumerate(ORDER, 1): assert f"[{i}/{len(ORDER)}] {name}: done in" in r.stdout, r.stdout[-3000:]
    assert f"{len(ORDER)} ran, 0 up to date, 0 failed" in r.stdout
    ctx = Context("smoke", root=root)
    for name in ORDER: assert (ctx.runs / f"{name}.ipynb").exists(), name
    for exp in EXPERIMENTS.values():
        for out in exp.outputs_for(ctx): assert list(Path(out).parent.glob(Path(out).name)), out
    results = json.loads((ctx.figures / "results.json").read_text())
    assert results["profile"] == "smoke" and set(results["results"]) == {"eval_emorl", "eval_gqn", "eval_genesis"}
    assert results["results"]["eval_gqn"]["record"]["step"] == 3
    genesis = json.loads((ctx.runs / "genesis_multi_dsprites" / "run.json").read_text())  # numeric σ -> its matching GECO goal
    assert genesis["model_config"]["pixel_std"] == 0.3 and abs(genesis["geco_goal"] - gaussian_goal(0.3)) < 1e-9, genesis["geco_goal"]
    manifest = read_manifest(ctx)
    assert set(manifest) == set(ORDER) and manifest["train_gqn"]["parameters"]["steps"] == 3

    # 2. nothing changed: every step is skipped
    lines = []
    report = reproduce("smoke", root=root, log=lines.append)
    assert report.by_status("skipped") == ORDER and report.exit_code == 0, lines
    listing = subprocess.run([str(BIN / "scenenb"), "list", "--profile", "smoke", "--root", str(root)],
                             capture_output=True, text=True, env=child_env, timeout=120).stdout
    assert listing.count("up to date") == len(ORDER), listing

    # 3. one more GQN training step: train_gqn and its three dependents re-run, EMORL stays
    registry = copy.deepcopy(EXPERIMENTS)
    registry["train_gqn"].parameters["smoke"]["steps"] = 4
    report = reproduce("smoke", root=root, registry=registry, log=lines.append)
    assert report.by_status("ran") == GQN and report.by_status("skipped") == ORDER[:4] + ORDER[8:], lines
    assert json.loads((ctx.figures / "gqn_rooms_eval.json").read_text())["step"] == 4
    # a changed leaf parameter re-runs that leaf only
    registry["fig_emorl_slots"].parameters["smoke"]["num_images"] = 1
    report = reproduce("smoke", root=root, registry=registry, log=lines.append)
    assert report.by_status("ran") == ["fig_emorl_slots"] and len(report.by_status("skipped")) == len(ORDER) - 1, lines

    # 4. `scenenb run` with an override runs one notebook and forgets the step's record (it no longer matches)
    r = subprocess.run([str(BIN / "scenenb"), "run", "fig_gqn_views", "--profile", "smoke", "--root", str(root), "--quiet",
                        "-p", "num_samples", "2"], capture_output=True, text=True, env=child_env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    executed = nbformat.read(ctx.runs / "fig_gqn_views.ipynb", as_version=4)
    assert "num_samples = 2" in next(c.source for c in executed.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "fig_gqn_views" not in read_manifest(ctx) and "train_gqn" in read_manifest(ctx)


def test_a_broken_notebook_is_reported_and_the_rest_still_runs(tmp_path):
    "A copy of eval_gqn with a raising cell: the report names the cell and the error, independent steps run, exit code 1."
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    nb = nbformat.read(EXPERIMENTS_DIR / "eval_gqn.ipynb", as_version=4)
    at = 1 + next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at, nbformat.v4.new_code_cell("raise RuntimeError(f'broken on purpose, run_dir={run_dir}')"))
    nbformat.write(nb, experiments / "eval_gqn_broken.ipynb")

    registry = {}
    register(copy.deepcopy(EXPERIMENTS["train_gqn"]), registry)
    broken = copy.deepcopy(EXPERIMENTS["eval_gqn"])
    broken.name, broken.notebook = "eval_gqn_broken", experiments / "eval_gqn_broken.ipynb"
    register(broken, registry)
    register(copy.deepcopy(EXPERIMENTS["fig_gqn_views"]), registry)  # needs train_gqn only: still runs
    after = copy.deepcopy(EXPERIMENTS["fig_gqn_orbit"])
    after.depends_on = ("eval_gqn_broken",)  # depends on the broken step: skipped
    register(after, registry)
    register(Experiment("independent", EXPERIMENTS_DIR / "train_emorl.ipynb", EXPERIMENTS["train_emorl"].parameters,
                        outputs=EXPERIMENTS["train_emorl"].outputs, common=EXPERIMENTS["train_emorl"].common), registry)

    lines = []
    report = reproduce("smoke", root=tmp_path / "root", registry=registry, log=lines.append)
    assert report.exit_code == 1
    assert report.by_status("failed") == ["eval_gqn_broken"] and report.by_status("blocked") == ["fig_gqn_orbit"]
    assert report.by_status("ran") == ["train_gqn", "fig_gqn_views", "independent"], lines
    text = next(s.report for s in report.steps if s.status == "failed")
    executed = tmp_path / "root" / "runs" / "smoke" / "eval_gqn_broken.ipynb"
    assert f"FAILED eval_gqn_broken: cell {at} " in text and "raise RuntimeError(f'broken on purpose" in text, text
    assert "RuntimeError: broken on purpose, run_dir=" in text.splitlines()[-2], text  # the traceback's last line
    assert f"executed notebook: {executed}" in text and executed.exists()
    assert text in lines and any("fig_gqn_orbit: skipped, it needs eval_gqn_broken" in l for l in lines)
    assert "1 failed or blocked" not in lines[-1] and "2 failed or blocked (eval_gqn_broken, fig_gqn_orbit)" in lines[-1]
    # the failed step is not recorded: the next run tries it again, and skips what succeeded
    assert set(read_manifest(Context("smoke", root=tmp_path / "root"))) == {"train_gqn", "fig_gqn_views", "independent"}


def test_reproduce_runs_without_jupyter(tmp_path, child_env):
    "`python -m scenenb.cli reproduce` where Jupyter is absent picks the plain engine (the GPU parts in test_benchmarks run every notebook so)."
    root, env = tmp_path / "root", without_jupyter(tmp_path, child_env)
    r = subprocess.run([sys.executable, "-m", "scenenb.cli", "reproduce", "--profile", "smoke", "--root", str(root), "--quiet",
                        "--only", "eval_gqn"], capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "steps (plain engine)" in r.stdout.splitlines()[0] and "2 ran, 0 up to date, 0 failed" in r.stdout
    ctx = Context("smoke", root=root)
    for name in ("train_gqn", "eval_gqn"):
        for out in EXPERIMENTS[name].outputs_for(ctx): assert Path(out).exists(), out
        executed = json.loads((ctx.runs / f"{name}.ipynb").read_text())
        assert executed["metadata"]["scenenb"]["engine"] == "plain" and executed["metadata"]["scenenb"]["returncode"] == 0
    assert json.loads((ctx.figures / "results.json").read_text())["results"]["eval_gqn"]["record"]["step"] == 3


def test_two_runs_in_new_processes_give_the_same_weights_and_scores(tmp_path, child_env):
    """The same seeds give the same numbers, run after run: every trained checkpoint of the smoke profile is the same tensor
    for tensor, and every evaluation's record is the same number for number. (The PyTorch here starts each process from
    a new seed, so a notebook that builds its model before seeding fails this; so does an evaluation that samples
    without `seeded`.)"""
    import torch

    contexts = []
    for name in ("first", "second"):
        root = tmp_path / name
        r = subprocess.run([sys.executable, "-m", "scenenb.cli", "reproduce", "--profile", "smoke", "--root", str(root),
                            "--quiet", "--engine", "plain"], capture_output=True, text=True, env=child_env, timeout=900, cwd=ROOT)
        assert r.returncode == 0 and "12 ran, 0 up to date, 0 failed" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
        contexts.append(Context("smoke", root=root))
    first, second = (json.loads((c.figures / "results.json").read_text())["results"] for c in contexts)
    assert set(first) == {"eval_emorl", "eval_gqn", "eval_genesis"}
    for name in first:
        a, b = first[name]["record"], second[name]["record"]
        assert {k: v for k, v in a.items() if k != "checkpoint"} == {k: v for k, v in b.items() if k != "checkpoint"}, name
    checkpoints = sorted(p.relative_to(contexts[0].runs) for p in contexts[0].runs.rglob("ckpt-*.pt"))
    assert len({p.parts[0] for p in checkpoints}) == 3, checkpoints   # one run folder per model
    for path in checkpoints:
        a, b = (torch.load(c.runs / path, map_location="cpu", weights_only=False)["model"] for c in contexts)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), path


def test_a_time_limit_or_sigterm_ends_a_plain_run_on_a_checkpoint(tmp_path, child_env):
    "A training notebook under the plain engine stops on its time limit, or on SIGTERM to `scenenb run`, with a checkpoint; the notebook finishes."
    root, env = tmp_path / "root", without_jupyter(tmp_path, child_env)
    run = Context("smoke", root=root).runs / "gqn_rooms"
    base = [sys.executable, "-m", "scenenb.cli", "run", "train_gqn", "--profile", "smoke", "--root", str(root), "-p", "steps", "100000"]
    # 1. max_minutes: the budget is spent after the first step
    # (and `-p amp off` reaches the notebook as the string "off", which plain YAML 1.1 would read as False)
    r = subprocess.run(base + ["-p", "max_minutes", "0.0001", "-p", "amp", "off", "--quiet"], capture_output=True, text=True, env=env,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    assert record["step"] == 1 and (run / "checkpoints" / "ckpt-00000001.pt").exists() and record["fit_config"]["amp"] == "off"
    executed = json.loads((Context("smoke", root=root).runs / "train_gqn.ipynb").read_text())
    assert any("stopped by time limit" in o.get("text", "") for c in executed["cells"] for o in c.get("outputs", []))
    # 2. SIGTERM to the `scenenb run` process, once training has checkpointed: passed on, checkpointed, the notebook ends
    p = subprocess.Popen(base + ["-p", "checkpoint_every", "2", "-p", "log_every", "1000"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    def checkpointed(at_least: int) -> bool:   # any step >= at_least: on a fast machine steps 3-9 pass between two polls
        return any(int(c.stem.split("-")[1]) >= at_least for c in (run / "checkpoints").glob("ckpt-*.pt"))
    deadline = time.time() + 240
    while not checkpointed(3) and time.time() < deadline: time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=240)
    assert p.returncode == 0, out[-3000:]
    record = json.loads((run / "run.json").read_text())
    assert 3 <= record["step"] < 100000 and (run / "checkpoints" / f"ckpt-{record['step']:08d}.pt").exists(), record["step"]
    executed = json.loads((Context("smoke", root=root).runs / "train_gqn.ipynb").read_text())
    assert executed["metadata"]["scenenb"]["signals"] == ["SIGTERM"] and "stopped by SIGTERM" in out
