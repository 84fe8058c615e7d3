"""The GQN experiment notebooks run end to end through papermill (train → resume → eval → figures) with a tiny model on a
few generated 16×16 rooms, in seconds."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "nbs" / "experiments"
NOTEBOOKS = ("train_gqn", "eval_gqn", "fig_gqn_views", "fig_gqn_orbit")
TINY_MODEL = {"r_dim": 16, "hidden": 8, "canvas_channels": 8, "z_dim": 2, "steps": 2}
SIZE = 16


def run_notebook(notebook: str, out: Path, **parameters) -> dict:
    "Execute nbs/experiments/<notebook>.ipynb with papermill (python3 kernel, repository root as cwd); return the executed notebook."
    import papermill

    return papermill.execute_notebook(str(EXPERIMENTS / f"{notebook}.ipynb"), str(out / f"{notebook}.ipynb"),
                                      parameters=parameters, kernel_name="python3", cwd=str(ROOT), progress_bar=False)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    "Train 3 steps, resume to 5, evaluate and draw with tiny settings; returns the run folder, the figure folder and run.json after 3 steps."
    tmp = tmp_path_factory.mktemp("gqn_experiments")
    run_dir, fig_dir = tmp / "run", tmp / "figures"
    train = dict(dataset="rooms_ring_camera", num_scenes=4, image_size=SIZE, preset="quick", config_overrides=TINY_MODEL,
                 batch_size=2, threads=1, out_dir=str(run_dir))
    run_notebook("train_gqn", tmp, steps=3, **train)
    first = json.loads((run_dir / "run.json").read_text())
    run_notebook("train_gqn", tmp, steps=5, **train)  # resumes from the step-3 checkpoint
    run_notebook("train_gqn", tmp, steps=5, **train)  # finished already: trains nothing and keeps the curve
    common = dict(run_dir=str(run_dir), threads=1, out_dir=str(fig_dir))
    run_notebook("eval_gqn", tmp, num_scenes=3, num_samples=2, batch_size=2, name="eval", **common)
    run_notebook("fig_gqn_views", tmp, num_scenes=2, context_size=2, num_samples=3, name="views", **common)
    run_notebook("fig_gqn_orbit", tmp, num_frames=4, context_size=3, scale=1, name="orbit", **common)
    return run_dir, fig_dir, first


def test_every_gqn_experiment_has_a_parameters_cell():
    import nbformat

    for name in NOTEBOOKS:
        nb = nbformat.read(EXPERIMENTS / f"{name}.ipynb", as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), f"{name} has no parameters cell"


def test_training_writes_checkpoint_config_curves_and_resumes(pipeline):
    from scenenb.io import load_checkpoint
    from scenenb.models.gqn import GQNConfig

    run_dir, _, first = pipeline
    assert [h["step"] for h in first["history"]] == [1, 2, 3]
    run = json.loads((run_dir / "run.json").read_text())
    assert GQNConfig.from_dict(run["model_config"]) == GQNConfig.preset("quick", **TINY_MODEL)
    assert run["image_shape"] == [3, SIZE, SIZE] and run["max_context"] == 5 and run["step"] == 5
    history = run["history"]
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5]  # the resumed run kept the first part of the curve
    assert history[:3] == first["history"]
    for h in history:
        assert all(math.isfinite(h[k]) for k in ("loss", "nll", "kl", "bits_per_dim")) and h["kl"] >= 0
        assert math.isclose(h["bits_per_dim"], (h["nll"] + h["kl"]) / (3 * SIZE * SIZE * math.log(2)) + 8, rel_tol=1e-5)
        assert h["hparam/sigma"] <= 2.0 and h["lr"] <= 5e-4  # the paper's annealing, from gqn_schedules
        assert 0 <= h["recon_mse"] < 10
    state = load_checkpoint(run_dir / "checkpoints" / "ckpt-00000005.pt", required=("model", "model_config", "step"))
    assert state["step"] == 5
    for png in ("loss.png", "posterior_reconstruction.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluation_per_context_size(pipeline):
    _, fig_dir, _ = pipeline
    record = json.loads((fig_dir / "eval.json").read_text())
    assert record["step"] == 5 and record["num_scenes"] == 3 and record["max_context"] == 5
    results = record["results"]
    assert [r["context_size"] for r in results] == [1, 2, 3, 4, 5]
    for r in results:
        assert math.isclose(r["bits_per_dim"], -r["elbo_nats"] / (3 * SIZE * SIZE * math.log(2)) + 8, rel_tol=1e-4)
        assert math.isclose(-r["elbo_nats"], r["nll"] + r["kl"], rel_tol=1e-4) and r["kl"] >= 0
        for key in ("mse_prior", "mse_posterior", "mse_context_mean"): assert 0 <= r[key] <= 1
    table = (fig_dir / "eval.md").read_text()
    assert "| context views | ELBO (nats/image) | bits/dim |" in table and table.count("\n| ") == 6  # header + 5 rows
    assert (fig_dir / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures(pipeline):
    from PIL import Image

    _, fig_dir, _ = pipeline
    with Image.open(fig_dir / "views.png") as png:
        assert png.format == "PNG" and png.width > png.height > 100
    with Image.open(fig_dir / "orbit.gif") as gif:
        # 4 frames at 10 fps; Pillow merges identical consecutive frames (an untrained model may render the same view
        # from neighbouring poses), adding their durations, so the animation's total length is what is fixed
        total = 0
        for i in range(gif.n_frames):
            gif.seek(i); total += gif.info["duration"]
        assert gif.format == "GIF" and 1 <= gif.n_frames <= 4 and total == 4 * 100, (gif.n_frames, total)
        gif.seek(0)
        assert gif.size == (SIZE + 2 + 3 * SIZE, SIZE)  # rendered view | gap | 3 context views
        assert np.asarray(gif.convert("RGB")).std() > 0


def test_figures_and_evaluation_from_a_release(pipeline, tmp_path):
    """`weights=` makes the notebooks read a release instead of a run: the run's final checkpoint released as float16
    gives the same evaluation table as the run itself, within float16 rounding."""
    import torch

    from scenenb.io import load_checkpoint, save_release
    from scenenb.train import latest_checkpoint

    run_dir, fig_dir, _ = pipeline
    state = load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))
    run = {k: v for k, v in json.loads((run_dir / "run.json").read_text()).items() if k != "history"}
    card = dict(name="tiny_gqn", model="scenenb.models.gqn.GQN", config=state["model_config"], training_data="test",
                steps=state["step"], metrics={}, experiment="train_gqn", parameters={}, run=run)
    path = save_release({k: v.half() for k, v in state["model"].items()}, card, tmp_path / "weights")
    common = dict(weights=str(path), threads=1, out_dir=str(tmp_path))
    run_notebook("eval_gqn", tmp_path, num_scenes=3, num_samples=2, batch_size=2, name="eval", **common)
    run_notebook("fig_gqn_views", tmp_path, num_scenes=2, context_size=2, num_samples=3, name="views", **common)
    released = json.loads((tmp_path / "eval.json").read_text())
    original = json.loads((fig_dir / "eval.json").read_text())
    assert released["step"] == original["step"] == 5 and released["dataset"] == "rooms_ring_camera"
    for a, b in zip(released["results"], original["results"]):
        assert a["context_size"] == b["context_size"]
        assert math.isclose(a["elbo_nats"], b["elbo_nats"], rel_tol=1e-3), (a, b)
    assert (tmp_path / "views.png").stat().st_size > 0


def test_eval_gqn_scores_a_torch_gqn_checkpoint(tmp_path):
    """eval_gqn -p torch_gqn_checkpoint: a file in torch-gqn's format (its train.py saves `state_dict()` as
    model-<step>.pt) is loaded by load_torch_gqn, σ set from the step in its name, scored and labelled."""
    import torch

    from scenenb.models.gqn import GQN, GQNConfig, pixel_sigma, torch_gqn_state_dict

    config = GQNConfig(**TINY_MODEL, vector_upsample="learned", grid_size=SIZE // 4)
    path = tmp_path / "model-150000.pt"
    torch.save(torch_gqn_state_dict(GQN(config)), path)
    run_notebook("eval_gqn", tmp_path, torch_gqn_checkpoint=str(path), torch_gqn_representation="tower", num_scenes=3,
                 num_samples=2, batch_size=2, threads=1, out_dir=str(tmp_path), name="torch_gqn")
    record = json.loads((tmp_path / "torch_gqn.json").read_text())
    assert (record["step"], record["checkpoint"], record["dataset"]) == (150000, str(path), "rooms_ring_camera")
    assert record["preset"] == "torch-gqn tower, L 2" and record["image_shape"] == [3, SIZE, SIZE]
    assert record["sigma"] == pytest.approx(pixel_sigma(config, 150000)) and record["max_context"] == 5
    assert all(math.isfinite(r["elbo_nats"]) and r["mse_prior"] >= 0 for r in record["results"])
    assert "torch-gqn tower, L 2" in (tmp_path / "torch_gqn.md").read_text()


def test_the_released_quick_gqn_loads_and_renders():
    "weights/gqn_quick_rooms_cpu20k (float16 in the file) passes its sha256 check, loads into float32 and renders a view."
    import torch

    from scenenb.io import release_checkpoint
    from scenenb.models.gqn import load_gqn

    state = release_checkpoint("gqn_quick_rooms_cpu20k", ROOT / "weights")
    assert state["card"]["stored_dtype"] == "float16" and state["step"] == 20000
    model = load_gqn(state)
    assert all(p.dtype == torch.float32 for p in model.parameters()) and abs(model.sigma - 0.7) < 1e-6
    size = state["run"]["image_size"]
    g = torch.Generator().manual_seed(0)
    views = model.generate(torch.rand(2, 3, 3, size, size, generator=g), torch.rand(2, 3, 7, generator=g),
                           torch.rand(2, 1, 7, generator=g), n_samples=2)
    assert torch.isfinite(views).all() and views.shape[-3:] == (3, size, size)
