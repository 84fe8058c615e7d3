"""scenenb/ is exactly what nbdev_export makes from nbs/, and the notebooks are clean (as nbdev_clean leaves them)."""
import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _copy_project(dest: Path) -> None:
    shutil.copy(ROOT / "settings.ini", dest / "settings.ini")
    shutil.copytree(ROOT / "nbs", dest / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))


def _env() -> dict:
    """This environment without IN_TEST: nbdev's test_nb sets it in its process (tests/test_notebooks.py), and with it set
    nbdev_export writes nothing."""
    return {k: v for k, v in os.environ.items() if k != "IN_TEST"}


def _files(folder: Path) -> dict:
    return {p.relative_to(folder): p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_package_is_the_export_of_the_notebooks(tmp_path):
    _copy_project(tmp_path)
    subprocess.run([str(BIN / "nbdev_export")], cwd=tmp_path, check=True, capture_output=True, text=True, env=_env())
    made, have = _files(tmp_path / "scenenb"), _files(ROOT / "scenenb")
    assert sorted(made) == sorted(have), "files differ: run nbdev_export and commit scenenb/"
    stale = [str(k) for k in made if not filecmp.cmp(made[k], have[k], shallow=False)]
    assert not stale, f"scenenb/ differs from the export of nbs/ in {stale}: edit the notebooks, run nbdev_export"


def test_notebooks_are_clean(tmp_path):
    _copy_project(tmp_path)
    subprocess.run([str(BIN / "nbdev_clean")], cwd=tmp_path, check=True, capture_output=True, text=True, env=_env())
    dirty = [str(p.relative_to(tmp_path)) for p in (tmp_path / "nbs").rglob("*.ipynb")
             if p.read_bytes() != (ROOT / p.relative_to(tmp_path)).read_bytes()]
    assert not dirty, f"run nbdev_clean: {dirty}"


def test_parameters_tags_survive_cleaning():
    ini = (ROOT / "settings.ini").read_text()
    assert "allowed_cell_metadata_keys = tags" in ini, "nbdev_clean would strip papermill's `parameters` tags"
