"""Every library notebook in nbs/ runs top to bottom, as `nbdev_test` would, reported one test per notebook.

Cells flagged with a tst_flag from settings.ini (`#| slow`, `#| gpu`) are skipped unless listed in SCENENB_TEST_FLAGS."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(notebook, monkeypatch):
    from nbdev.config import get_config
    from nbdev.test import test_nb

    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("IN_TEST", raising=False)  # test_nb sets it for good; removed again after the test
    flags = get_config().tst_flags.split()
    force = os.environ.get("SCENENB_TEST_FLAGS", "").split()
    ok, seconds = test_nb(notebook, skip_flags=flags, force_flags=force)
    assert ok, f"{notebook.relative_to(ROOT)} failed (the traceback is in the captured stderr above)"


def test_there_are_notebooks():
    names = {p.stem for p in NOTEBOOKS}
    assert {"00_core", "01_io", "10_geco", "24_train.engine", "90_cli"} <= names, names
