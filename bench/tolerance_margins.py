"""pytest plugin: how close does each float comparison of the suite come to its tolerance?

Wraps ``numpy.testing.assert_allclose``, ``torch.testing.assert_close``, ``torch.allclose`` and
``pytest.approx`` (scalars) and appends, per call, ``{"site": "dir/test_x.py:LINE", "ratio":
max |actual - expected| / (atol + rtol |expected|), "kind": ...}`` to ``$MARGINS_OUT``
(a ratio of 1 is an assertion at its limit). Run the suite twice, on this CPU and as another
one, and compare the ratios per site: a rounding-sensitive tolerance shows a ratio that
moves, a statistical one a ratio that stays::

    MARGINS_OUT=/tmp/m_here.jsonl PYTHONPATH=bench python -m pytest -q -p tolerance_margins tests/infer
    MARGINS_OUT=/tmp/m_old.jsonl PYTHONPATH=bench ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE \
        MKL_ENABLE_INSTRUCTIONS=SSE4_2 OPENBLAS_CORETYPE=Prescott \
        NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR" \
        python -m pytest -q -p tolerance_margins tests/infer

Measured for issue 9 (AVX-512 machine against the same as a pre-AVX CPU with SSE4.2 MKL,
over tests/infer, models, datasets, discovery and the numeric CLI tests; 150 sites): the
largest ratios (0.97, 0.76, 0.69, ...) are statistical tolerances (an estimator's bias or
sampling error against the truth) and are the same on both; no rounding-level tolerance
came within 5x of its limit, and none moved by more than 0.02.
"""

from __future__ import annotations

import json
import os
import traceback
from typing import Any

import numpy as np
import torch
from _pytest import approx as pytest_approx

__all__ = ["ratio"]

OUT = os.environ.get("MARGINS_OUT", "tolerance_margins.jsonl")


def _site() -> str:
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/tests/" in frame.filename:
            return f"{frame.filename.split('/tests/')[1]}:{frame.lineno}"
    return "?"


def _record(value: float, kind: str) -> None:
    with open(OUT, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"site": _site(), "ratio": float(value), "kind": kind}) + "\n")


def ratio(actual: Any, expected: Any, rtol: float, atol: float) -> float:
    """max |actual - expected| / (atol + rtol |expected|) over the finite entries."""
    a, b = np.broadcast_arrays(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64))
    diff, tol = np.abs(a - b), atol + rtol * np.abs(b)
    ok = np.isfinite(diff)
    if not ok.any():
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(tol[ok] > 0, diff[ok] / tol[ok], np.where(diff[ok] > 0, np.inf, 0.0))
    return float(r.max())


def _numpy(x: Any) -> Any:
    return x.detach().double().cpu().numpy() if isinstance(x, torch.Tensor) else x


_np_assert_allclose = np.testing.assert_allclose
_torch_assert_close = torch.testing.assert_close
_torch_allclose = torch.allclose
_approx_eq = pytest_approx.ApproxScalar.__eq__


def _np_assert(actual: Any, desired: Any, rtol: float = 1e-7, atol: float = 0, *args: Any, **kw: Any) -> None:
    _record(ratio(actual, desired, rtol, atol), "np.assert_allclose")
    return _np_assert_allclose(actual, desired, rtol, atol, *args, **kw)


def _torch_assert(actual: Any, expected: Any, *args: Any, rtol: float | None = None, atol: float | None = None,
                  **kw: Any) -> None:
    if rtol is not None and atol is not None:
        _record(ratio(_numpy(actual), _numpy(expected), rtol, atol), "torch.assert_close")
    return _torch_assert_close(actual, expected, *args, rtol=rtol, atol=atol, **kw)


def _allclose(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    _record(ratio(_numpy(a), _numpy(b), rtol, atol), "torch.allclose")
    return _torch_allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def _approx(self: Any, actual: Any) -> bool:
    tol = self.tolerance
    if tol and isinstance(actual, (int, float)) and isinstance(self.expected, (int, float)):
        _record(abs(actual - self.expected) / tol, "approx")
    return _approx_eq(self, actual)


np.testing.assert_allclose = _np_assert
torch.testing.assert_close = _torch_assert
torch.allclose = _allclose
pytest_approx.ApproxScalar.__eq__ = _approx
