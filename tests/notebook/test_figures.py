"""Every plot function returns its matplotlib Figure (shown inline by a notebook); the path
is optional; pyplot keeps no figure open and the backend is left alone."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from genz_pyro.estimator import GenZRegressor
from genz_pyro.report import (
    plot_cold_start,
    plot_eps,
    plot_feature_timeline,
    plot_judge_rates,
    plot_learning_curves,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_plot_functions_return_figures_and_write_only_when_asked(tmp_path: Path) -> None:
    backend = matplotlib.get_backend()
    reg = GenZRegressor(algorithm=4, cycles=1, n_add=4, n_remove=1, seed=0).fit(
        [str(i) for i in range(32)], np.arange(32.0))
    ks = np.array([1.0, 2.0, 5.0, 10.0])
    figures = {
        "learning": plot_learning_curves(reg.history_, metric_name="R^2"),
        "timeline": plot_feature_timeline(reg.history_),
        "eps": plot_eps(reg.features_, reg.eps_),
        "cold": plot_cold_start((ks, ks / 10, ks / 20, ks / 5), model_cos=0.5),
        "judges": plot_judge_rates([{"feature": f, "judge": j, "false_yes": 0.1, "false_no": 0.2}
                                    for f in reg.features_ for j in ("a", "b")]),
    }
    assert list(tmp_path.iterdir()) == []
    for name, fig in figures.items():
        assert isinstance(fig, Figure), name
        assert _png(fig)[:8] == PNG and len(fig.axes) >= 1
    # the timeline has one row per feature ever in the model (4 added, 1 removed)
    assert len(figures["timeline"].axes[0].get_yticklabels()) == 4
    assert [t.get_text() for t in figures["eps"].axes[0].get_yticklabels()] == reg.features_
    # with a path the same figure is also written
    fig = plot_eps(reg.features_, reg.eps_, tmp_path / "eps.png")
    assert isinstance(fig, Figure) and (tmp_path / "eps.png").read_bytes()[:8] == PNG
    assert plt.get_fignums() == []  # released from pyplot: drawing many leaks nothing
    assert matplotlib.get_backend() == backend  # no backend switch (a notebook stays inline)


def test_a_notebook_cell_shows_the_returned_figure_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a Jupyter kernel with its default (inline) backend, a plot function as the last
    expression of a cell displays one PNG: the Figure's own display, not a second copy
    from pyplot's end-of-cell flush."""
    nbformat = pytest.importorskip("nbformat", reason="needs the [notebooks] extra (in [test])")
    nbclient = pytest.importorskip("nbclient", reason="needs the [notebooks] extra (in [test])")
    spec = tmp_path / "kernels" / "genz-inline"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "genz inline", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel picks its inline backend
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from genz_pyro.report import plot_eps\n"
                                  "plot_eps(['has a pool', 'near the ocean'], [0.05, 0.3])"),
        nbformat.v4.new_code_cell("import matplotlib\nprint(matplotlib.get_backend())"),
    ])
    nbclient.NotebookClient(nb, kernel_name="genz-inline", timeout=120).execute()
    shown = [o for o in nb.cells[0].outputs if o.output_type in ("execute_result", "display_data")]
    assert len(shown) == 1 and "image/png" in shown[0]["data"], nb.cells[0].outputs
    assert "inline" in nb.cells[1].outputs[0]["text"]
