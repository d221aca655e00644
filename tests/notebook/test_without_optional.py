"""pandas, scikit-learn and ArviZ stay optional: with all three hidden, the estimator and the
featurizer work on lists (stand-in base classes give the parameter protocol), and what
needs a missing library says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CODE = textwrap.dedent('''
    import sys
    for name in ("sklearn", "pandas", "arviz"):
        sys.modules[name] = None  # import fails as if not installed
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from genz_pyro.arviz_data import to_inference_data
    from genz_pyro.estimator import GenZRegressor
    from genz_pyro.featurizer import GenZFeaturizer
    from genz_pyro.sklearn_compat import HAVE_SKLEARN, NotFittedError

    assert not HAVE_SKLEARN
    items, y = [str(i) for i in range(64)], np.arange(64.0)
    reg = GenZRegressor(algorithm=1, cycles=6, seed=0).fit(items, y)
    assert reg.score(items, y) > 0.999
    assert reg.get_params()["cycles"] == 6 and GenZRegressor(**reg.get_params()).get_params() == reg.get_params()
    assert repr(GenZRegressor(cycles=3)).startswith("GenZRegressor(")
    try:
        reg.set_params(cylces=1)
    except ValueError as exc:
        assert "unknown parameter 'cylces'" in str(exc)
    else:
        raise AssertionError("set_params accepted a typo")
    try:
        GenZRegressor().predict(items)
    except NotFittedError as exc:
        assert isinstance(exc, ValueError)
    from genz_pyro.fm.offline import OfflineModel

    feat = GenZFeaturizer(GenZRegressor(OfflineModel(), algorithm=1, cycles=6, seed=0))
    S = feat.fit_transform(items, y)
    assert S.shape == (64, 6) and set(np.unique(S)) == {0.0, 1.0}
    assert feat.estimator_.model is feat.estimator.model  # the clone shares the model object
    assert feat.get_params()["estimator__cycles"] == 6
    feat.set_params(estimator__cycles=4)
    assert feat.estimator.cycles == 4
    for call, hint in ((lambda: reg.predict_frame(items), "pip install 'genz-pyro[pandas]'"),
                       (lambda: to_inference_data(reg), "pip install 'genz-pyro[arviz]'"),
                       (lambda: feat.set_output(transform="pandas"), "pip install 'genz-pyro[sklearn]'")):
        try:
            call()
        except ImportError as exc:
            assert hint in str(exc), exc
        else:
            raise AssertionError(f"no ImportError naming {hint}")
    print("ok")
''')


def test_estimators_work_without_pandas_sklearn_arviz() -> None:
    out = subprocess.run([sys.executable, "-W", "error", "-c", CODE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
