"""Shared test settings: one thread per process (tests run two at a time on two cores)."""
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def child_environment() -> dict:
    "Environment for child processes: single-threaded, repository on the path."
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture
def child_env():
    return child_environment()


def without_jupyter(tmp_path, env) -> dict:
    "An environment in which papermill, nbformat, the Jupyter kernel and IPython cannot be imported (a bare GPU node)."
    block = tmp_path / "no_jupyter"
    for module in ("papermill", "nbformat", "nbclient", "jupyter_client", "ipykernel", "IPython"):
        (block / module).mkdir(parents=True)
        (block / module / "__init__.py").write_text(f"raise ImportError('{module} is not installed here')\n")
    return dict(env, PYTHONPATH=os.pathsep.join([str(block), env["PYTHONPATH"]]))
