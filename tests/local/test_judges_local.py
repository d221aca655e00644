"""Several judges with a real model: the offline model and the small local model (SmolLM2-135M
through llama.cpp, soft answers) judge the same features on the binary data. The flip model
must trust the exact judge, learn that the small one says nothing, and predict as the offline
judge alone does. (64 items, 2 features: 128 real one-item questions, about 50 s here.)"""

from __future__ import annotations

import numpy as np

from genz_pyro.datasets.binary import load_binary
from genz_pyro.discovery import Discovery
from genz_pyro.discovery.judges import panel_data, panel_predict, rates_rows
from genz_pyro.fm.offline import OfflineModel
from genz_pyro.infer.judges import fit_judges


def test_offline_and_small_model_judging_the_same_features(gguf) -> None:
    ds = load_binary(bits=6, seed=0)
    d = Discovery(ds, OfflineModel(), judges=[gguf], judge_names=["smollm2"], seed=0)
    d.run(algorithm=1, cycles=2)
    assert len(d.features) == 2
    rec = d.history[-1]
    answers = np.stack([d.panel_answers[f] for f in d.features], axis=1)  # [64, 2, 1]
    assert np.isfinite(answers).all() and (answers >= 0).all() and (answers <= 1).all()
    assert not np.isin(answers, (0.0, 1.0)).all()  # soft: P(yes) from the logprobs

    # error rates P(s != z) per feature: the offline judge's at the floor, the small model's
    # about 0.5 (measured 0.001 and 0.5: its false yes + false no reach 1, an uninformative judge)
    rows = rates_rows(rec.judges, d.features)
    for row in rows:
        if row["judge"] == "offline":
            assert row["error"] <= 0.02 and row["false_yes"] <= 0.02 and row["false_no"] <= 0.02, row
        else:
            assert row["error"] >= 0.3, row
            assert row["false_yes"] + row["false_no"] > 0.9, row

    # one flip rate per judge and feature (the paper's eps): 0.001 and 0.5 measured
    full = np.concatenate([d.judgments[:, :, None], answers], axis=2)
    sym = fit_judges(panel_data(d, d.train, full), engine="cavi", symmetric=True, q_init=d.result.q.detach())
    assert float(sym.false_yes[:, 0].max()) <= 0.02 and float(sym.false_yes[:, 1].min()) >= 0.3

    # prediction: the several-judges model predicts as the offline-only fit (the search's fit)
    assert abs(rec.judges["metric"]["train"] - rec.metric["train"]) < 1e-6
    rows_all = np.arange(len(d.ids))
    both = panel_predict(d, d.judges_result, rows_all, full)
    alone = d._predict_rows(rows_all, d.result, d.judgments)
    y = d._y.double().numpy()
    assert np.abs(both - alone).max() < 1e-3 * (y.max() - y.min())
