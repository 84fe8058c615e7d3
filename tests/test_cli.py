"""The installed `scenenb` console command."""
import subprocess

import torch

from conftest import BIN


def test_scenenb_info(child_env):
    r = subprocess.run([str(BIN / "scenenb"), "info"], capture_output=True, text=True, env=child_env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"torch        {torch.__version__}" in r.stdout
    for word in ("scenenb", "devices:", "weights", "figures", "runs"): assert word in r.stdout


def test_scenenb_without_command_shows_help(child_env):
    r = subprocess.run([str(BIN / "scenenb")], capture_output=True, text=True, env=child_env, timeout=120)
    assert r.returncode == 2 and "info" in r.stdout
