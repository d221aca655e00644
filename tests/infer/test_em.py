"""The paper's EM: the batched forced variants, q against the exact posterior, convergence
without 2-cycles, and an MLP link that fits an interaction the linear link cannot."""

from __future__ import annotations

import torch

from genz_pyro.data import GenZData
from genz_pyro.infer import fit
from genz_pyro.infer.em import LinkTrainer, forced_logits
from genz_pyro.infer.enumerate import exact_posterior
from genz_pyro.infer.simulate import simulate_linear
from genz_pyro.models.links import LinearLink, MLPLink
from genz_pyro.predict import predict


def _data(n: int = 50, k: int = 4, d: int = 3, c: int = 2, seed: int = 0) -> GenZData:
    g = torch.Generator().manual_seed(seed)
    return GenZData.create(
        (torch.rand(n, k, generator=g) < 0.5).float(),
        torch.randn(n, d, generator=g),
        covariates=torch.randn(n, c, generator=g),
    )


def test_linear_fast_path_equals_the_batched_forward_pass() -> None:
    data = _data()
    torch.manual_seed(1)
    link = LinearLink(4, 3, 2)
    torch.nn.init.normal_(link.weight)
    trainer = LinkTrainer(link, data, chunk=7)  # several chunks
    z = torch.rand(50, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sigma2 = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    fast = forced_logits(trainer, z, sigma2)
    slow = forced_logits(trainer, z, sigma2, generic=True)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-4)


def test_forced_variants_are_the_log_likelihood_difference_for_an_mlp() -> None:
    data = _data()
    torch.manual_seed(3)
    link = MLPLink(4, 3, 2, hidden=(16,), dropout=0.5)  # dropout must be off in the E step
    trainer = LinkTrainer(link, data, chunk=13)
    z = (torch.rand(50, 4, generator=torch.Generator().manual_seed(4)) < 0.5).double()
    sigma2 = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    got = forced_logits(trainer, z, sigma2, features=[2, 0])
    link.eval()
    y = data.targets.double()
    for col, j in enumerate([2, 0]):
        zp, zm = z.clone(), z.clone()
        zp[:, j], zm[:, j] = 1.0, 0.0
        with torch.no_grad():
            lp = -0.5 * (((y - link(zp.float(), data.covariates).double()) ** 2) / sigma2).sum(-1)
            lm = -0.5 * (((y - link(zm.float(), data.covariates).double()) ** 2) / sigma2).sum(-1)
        torch.testing.assert_close(got[:, col], lp - lm, rtol=1e-5, atol=1e-4)


def test_em_q_matches_the_exact_posterior_for_small_k_and_converges() -> None:
    sim = simulate_linear(400, 4, 6, sigma=0.4, seed=5)
    res = fit(sim.data, engine="em", max_sweeps=100)
    assert res.converged and res.num_sweeps < 100  # no 2-cycle of the parallel mode update
    exact = exact_posterior(sim.data, eps=res.eps.double(), link=res.link.double(), sigma2=res.sigma2.double())
    assert float((res.q.double() - exact.marginals).abs().mean()) < 0.03
    assert float(((res.q > 0.5) == (exact.marginals > 0.5)).double().mean()) > 0.98


def _xor(n: int, seed: int) -> tuple[GenZData, torch.Tensor, torch.Tensor]:
    """y = XOR(z0, z1) + noise (sd 0.1); a third, irrelevant feature; eps = 0.02."""
    g = torch.Generator().manual_seed(seed)
    s = (torch.rand(n, 3, generator=g) < 0.5).float()
    z = (s + (torch.rand(n, 3, generator=g) < 0.02).float()) % 2
    y = ((z[:, 0] + z[:, 1]) % 2).unsqueeze(-1) + 0.1 * torch.randn(n, 1, generator=g)
    return GenZData.create(s, y), s, y


def test_mlp_link_fits_an_xor_target_the_linear_link_cannot() -> None:
    train, _, _ = _xor(800, 0)
    _, s_test, y_test = _xor(400, 1)
    mse = {}
    for link in ("linear", "mlp"):
        res = fit(train, link=link, engine="em", seed=0, max_sweeps=20)
        pred = predict(res, s_test, num_samples=200, seed=0)
        mse[link] = float(((pred.mean - y_test) ** 2).mean())
    assert mse["mlp"] * 2 <= mse["linear"], mse
