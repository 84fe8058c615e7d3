"""Kill real training processes — SIGKILL at arbitrary steps, SIGKILL in the middle of writing a checkpoint, SIGTERM —
and show that resuming continues from the last complete checkpoint and ends bit-identical to an uninterrupted run."""
import signal
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, child_environment
from scenenb.io import TEMP_MARK, load_checkpoint
from scenenb.train import latest_checkpoint

SCRIPT = ROOT / "tests" / "tiny_train.py"
STEPS = 16


def _start(out, env, *extra):
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out), "--steps", str(STEPS), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(proc, marker):
    for line in proc.stdout:
        if line.startswith(marker): return line
    raise AssertionError(f"process ended before printing {marker!r}: {proc.stderr.read()[-2000:]}")


def _finish(out, env, *extra):
    r = subprocess.run([sys.executable, str(SCRIPT), str(out), "--steps", str(STEPS), *extra],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def _final(out):
    return torch.load(out / "final-rank0.pt", weights_only=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "The uninterrupted run that every interrupted one must end equal to; trained once for the module."
    out = tmp_path_factory.mktemp("reference")
    _finish(out, child_environment())
    return _final(out)


def _assert_same(a, b):
    for k in a["model"]: assert torch.equal(a["model"][k], b["model"][k]), f"parameter {k} differs from the uninterrupted run"
    for k in a["objective"]: assert torch.equal(a["objective"][k], b["objective"][k]), f"GECO {k} differs"


def test_sigkill_anywhere_and_mid_save_then_resume(tmp_path, child_env, reference):
    run = tmp_path / "killed"

    # 1. SIGKILL while training (after step 5 was announced, before or while its checkpoint is written)
    p = _start(run, child_env, "--sleep", "0.05")
    _wait_for(p, "STEP 5"); p.send_signal(signal.SIGKILL); p.wait()
    found = latest_checkpoint(run / "checkpoints")
    assert found is not None and 4 <= load_checkpoint(found)["step"] <= 5

    # 2. resume, then SIGKILL in the middle of writing checkpoint 9: half a file on disk, never renamed
    p = _start(run, child_env, "--resume", "--midsave-at", "9")
    _wait_for(p, "MIDSAVE"); p.send_signal(signal.SIGKILL); p.wait()
    temps = list((run / "checkpoints").glob(f".*{TEMP_MARK}*"))
    assert temps, "expected the killed writer's temporary file"
    found = latest_checkpoint(run / "checkpoints")
    assert load_checkpoint(found)["step"] == 8, f"the last complete checkpoint is step 8, got {found}"

    # 3. resume to the end: same parameters and GECO state as the uninterrupted run, temporary file cleared
    out = _finish(run, child_env, "--resume")
    assert f"DONE {STEPS} interrupted=False" in out
    _assert_same(_final(run), reference)
    assert not list((run / "checkpoints").glob(f".*{TEMP_MARK}*"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_and_exits_cleanly(tmp_path, child_env, reference, sig):
    run = tmp_path / "terminated"
    p = _start(run, child_env, "--sleep", "0.05")
    _wait_for(p, "STEP 6"); p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    assert "interrupted=True" in out and f"{sig.name} received" in out
    stopped_at = load_checkpoint(latest_checkpoint(run / "checkpoints"))["step"]
    assert 6 <= stopped_at < STEPS
    _finish(run, child_env, "--resume")
    _assert_same(_final(run), reference)
