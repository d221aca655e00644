"""The method-of-moments engine (issue 2 benchmark): consistency against simulated truth, the
fixed-point property of its E step, the default-engine rule and its bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer import fit
from genz_pyro.infer.cavi import e_field, prepare_linear, weight_from_link
from genz_pyro.infer.fit import MOMENTS_MIN_ITEMS, default_engine
from genz_pyro.infer.moments import moment_estimate, moments_applicable
from genz_pyro.infer.simulate import simulate_linear


def _eps_err(res, sim) -> torch.Tensor:
    return (res.eps.double() - sim.eps.double()).abs()


def test_recovers_eps_weights_noise_covariates_and_bias() -> None:
    """N = 20 000, K = 8, D = 6, sigma = 0.5, two covariates: every parameter from the moments."""
    sim = simulate_linear(20_000, 8, 6, sigma=0.5, seed=3)
    gen = torch.Generator().manual_seed(7)
    u = torch.randn(20_000, 2, generator=gen)
    v = torch.tensor([[1.0, -2.0, 0.5, 0.0, 3.0, -1.0], [0.3, 0.3, -0.7, 2.0, 0.0, 1.5]])
    y = sim.data.targets + u @ v
    data = GenZData.create(sim.data.judgments, y, covariates=u)
    res = fit(data, engine="moments")
    assert res.engine == "moments" and res.converged
    assert float(_eps_err(res, sim).max()) < 0.02
    w = res.link.feature_weight.detach().double()
    assert float(np.corrcoef(w.numpy().ravel(), sim.weight.double().numpy().ravel())[0, 1]) > 0.995
    assert torch.allclose(res.sigma2.double(), torch.full((6,), 0.25, dtype=torch.float64), rtol=0.1)
    full = weight_from_link(res.link)  # rows: 8 features, 2 covariates, bias
    assert torch.allclose(full[8:10], v.double(), atol=0.03)
    assert torch.allclose(full[10], sim.bias.double(), atol=0.1)
    assert float(((res.q > 0.5).float() == sim.z).float().mean()) > 0.95


def test_error_shrinks_like_one_over_root_n() -> None:
    """Consistency: 16x the items, mean eps error at least 2x smaller (sqrt(16) = 4 expected);
    three data seeds each."""
    errs = {}
    for n in (2_000, 32_000):
        errs[n] = np.mean(
            [float(_eps_err(fit(simulate_linear(n, 6, 5, sigma=0.5, seed=s).data, engine="moments"), simulate_linear(n, 6, 5, sigma=0.5, seed=s)).mean()) for s in range(3)]
        )
    assert errs[32_000] < errs[2_000] / 2, errs


def test_benchmark_size_eps_and_z() -> None:
    """(20 000, 100, 32), sigma = 1 (the benchmark): eps close to the truth (converged SEM: 0.006
    mean; CAVI: 0.117) and z as accurate as SEM's 0.864."""
    sim = simulate_linear(20_000, 100, 32, sigma=1.0, seed=0)
    res = fit(sim.data)  # the default for this size
    assert res.engine == "moments" and res.converged
    err = _eps_err(res, sim)
    assert float(err.mean()) < 0.012 and float(err.max()) < 0.05, (float(err.mean()), float(err.max()))
    assert float(((res.q > 0.5).float() == sim.z).float().mean()) > 0.85


def test_fixed_eps_is_kept_and_the_rest_estimated() -> None:
    sim = simulate_linear(10_000, 5, 4, sigma=0.4, seed=1)
    res = fit(sim.data, engine="moments", eps=sim.eps, learn_eps=False)
    assert torch.allclose(res.eps.double(), sim.eps.double().clamp(min=1e-3), atol=1e-6)
    assert torch.allclose(res.sigma2.double(), torch.full((4,), 0.16, dtype=torch.float64), rtol=0.1)


def test_q_is_a_fixed_point_of_the_mean_field_update() -> None:
    """At the returned parameters, q_nk = sigmoid(field_nk) to within the stopping tolerance."""
    sim = simulate_linear(3_000, 6, 5, sigma=0.5, seed=2)
    res = fit(sim.data, engine="moments", tol=1e-9, dtype=torch.float64)
    ld = prepare_linear(sim.data)
    w = weight_from_link(res.link)
    base, g = e_field(ld, w, res.sigma2.double())
    q = res.q.double().T
    eps = res.eps.double()
    lo = torch.log1p(-eps) - torch.log(eps)
    field = base + lo[:, None] * ld.sm - 0.5 * g.diagonal()[:, None] - (g @ q - g.diagonal()[:, None] * q)
    assert float((torch.sigmoid(field) - q).abs().max()) < 1e-3


def test_default_engine_rule() -> None:
    big = simulate_linear(MOMENTS_MIN_ITEMS, 4, 4, seed=0).data
    small = simulate_linear(MOMENTS_MIN_ITEMS - 1, 4, 4, seed=0).data
    assert default_engine(big) == "moments"
    assert default_engine(small) == "sem"
    assert default_engine(big, link="mlp") == "sem"
    assert default_engine(big, decoupled=torch.tensor([True, False, False, False])) == "sem"
    one_d = simulate_linear(MOMENTS_MIN_ITEMS, 3, 1, seed=0).data
    assert default_engine(one_d) == "sem"  # K + 1 > D (D + 1) / 2
    assert fit(big, max_sweeps=3, num_average=2).engine == "sem"  # SEM's options keep SEM
    scales = torch.tensor([1.0, 1.0, 1.0, 100.0])  # one target 100x the others' sd: pooled noise would not fit
    mixed = GenZData.create(big.judgments, big.targets * scales)
    assert default_engine(mixed) == "sem"


def _with_missing(data: GenZData) -> GenZData:
    miss = torch.zeros_like(data.judgments, dtype=torch.bool)
    miss[0, 0] = True
    return GenZData.create(data.judgments, data.targets, missing=miss)


@pytest.mark.parametrize(
    "case, match",
    [
        ("one_target", "K \\+ 1"),
        ("decoupled", "decoupled"),
        ("missing", "missing"),
        ("mlp", "linear link"),
        ("collinear", "rank"),
    ],
)
def test_bad_input_names_the_problem_and_the_fix(case: str, match: str) -> None:
    sim = simulate_linear(500, 3, 4, seed=0)
    kwargs: dict = {}
    data = sim.data
    if case == "one_target":
        data = simulate_linear(500, 3, 1, seed=0).data
    elif case == "decoupled":
        kwargs["decoupled"] = [True, False, False]
    elif case == "missing":
        data = _with_missing(data)
    elif case == "mlp":
        kwargs["link"] = "mlp"
    elif case == "collinear":  # two identical judgment columns: their slopes cannot be separated
        s = torch.cat([data.judgments, data.judgments[:, :1]], 1)
        data = GenZData.create(s, data.targets)
    with pytest.raises(ValueError, match=match) as info:
        fit(data, engine="moments", **kwargs)
    assert "engine='sem'" in str(info.value) or "use engine" in str(info.value)


def test_applicability_reasons_are_none_when_it_applies() -> None:
    assert moments_applicable(simulate_linear(100, 3, 4, seed=0).data) is None
    est = moment_estimate(simulate_linear(5_000, 3, 4, sigma=0.3, seed=0).data)
    assert est.residual < 0.2 and est.weight.shape == (4, 4)


def _bound_data(dtype: torch.dtype) -> GenZData:
    sim = simulate_linear(4_000, 7, 6, sigma=0.5, seed=4)
    u = torch.randn(4_000, 1, generator=torch.Generator().manual_seed(1))
    return GenZData.create(sim.data.judgments.to(dtype), (sim.data.targets + 2.0 * u).to(dtype),
                           covariates=u.to(dtype))


def test_reported_bound_equals_the_generic_mean_field_bound() -> None:
    """The O(NKD) residual shortcut of the E step gives the bound of
    :func:`genz_pyro.infer.mean_field_bound` at the returned q and parameters.

    Float64 data: every returned value is the engine's own float64 value, so the two bounds
    differ only by float64 summation order. Each sums N K + N D = 52 000 terms of the
    total's order, whose rounding is at most (terms) * 2^-53 relative in the worst case:
    5.8e-12, so ``rel=1e-10`` holds on any CPU and BLAS."""
    from genz_pyro.infer import mean_field_bound

    data = _bound_data(torch.float64)
    res = fit(data, engine="moments", dtype=torch.float64)
    ref = float(mean_field_bound(data, res.q, res.eps, res.link, res.sigma2).sum())
    assert res.bound == pytest.approx(ref, rel=1e-10)
