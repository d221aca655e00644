"""Execute the example notebooks (small settings) with a kernel of this interpreter.

The kernel is a kernelspec written to a temporary JUPYTER_PATH that runs
``sys.executable -m ipykernel_launcher``, so the test works in a fresh venv where only
``pip install -e '.[test]'`` ran (no ``python -m ipykernel install`` needed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook tests need nbformat (pip install -e '.[test]')")
nbclient = pytest.importorskip("nbclient", reason="notebook tests need nbclient (pip install -e '.[test]')")
pytest.importorskip("ipykernel", reason="notebook tests need ipykernel (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "genz-test-python"
NEEDS_DATA = {"houses.ipynb": "houses-ahmed-moustafa-2016", "movies.ipynb": "movielens-latest-small"}


def _data_dir() -> Path:
    return Path(os.environ.get("GENZ_DATA") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "genz test", "language": "python",
    }))
    return root


@pytest.mark.parametrize("name", ["quickstart.ipynb", "extend_the_model.ipynb", "notebook_workflow.ipynb",
                                  "houses.ipynb", "movies.ipynb"])
def test_notebook_executes(name: str, kernel_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if name in NEEDS_DATA and not (_data_dir() / NEEDS_DATA[name]).is_dir():
        pytest.skip(f"{name}: {_data_dir() / NEEDS_DATA[name]} is absent (set GENZ_DATA to the datasets folder)")
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_env))
    monkeypatch.setenv("GENZ_DATA", str(_data_dir()))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(str(NOTEBOOKS / name), as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=300,
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # every code cell ran and the notebook printed something
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def test_notebooks_match_their_generator() -> None:
    """The committed .ipynb files are what notebooks/_build.py writes (reviewable sources)."""
    sys.path.insert(0, str(NOTEBOOKS))
    try:
        import _build
    finally:
        sys.path.remove(str(NOTEBOOKS))
    for name, cells in _build.NOTEBOOKS.items():
        nb = nbformat.read(str(NOTEBOOKS / name), as_version=4)
        assert [c.source for c in nb.cells] == [src for _, src in cells], name
