"""Planted features: records whose targets come from hidden grammar predicates plus noise.

:func:`make_planted` draws ``n`` house-listing-like records with numeric,
categorical, zip-like, list and text fields (and distractor fields), evaluates
``num_features`` hidden predicates of the offline model's grammar on them and
sets ``y = bias + Z W + noise``. The hidden predicates are rendered by the
offline model's English, so the offline model judges them exactly; discovery
quality is measured by the judgment agreement of a discovered feature with a
hidden one (a match is agreement >= 0.95 with the predicate or its negation).

Hidden pool (the first ``num_features`` are used; activity 10-50% each)::

    Has 4 or more bedrooms                      (~35%)
    Located in a zip code starting with 921     (~30%)
    Amenities includes pool                     (~25%)
    Description mentions "ocean view"           (~20%)
    Style is Victorian                          (~18%)
    Year built is between 1950 and 1975         (~37%)
    Lot size is at least 10000                  (~20%)
    Amenities includes solar panels             (~20%)

Weights have comparable effect sizes (``|W_kd|`` in [0.8, 1.2], random signs, for
``D = 1``; random unit directions times such magnitudes for ``D > 1``). By default
the noise SD is chosen so that the population R^2 of the oracle linear model on
the hidden predicates is 0.85.
"""

from __future__ import annotations

import numpy as np

from genz_pyro.datasets.base import Dataset, split_indices
from genz_pyro.fm.offline.english import render
from genz_pyro.fm.offline.predicates import Between, Compare, Contains, Equals, Mentions, Predicate, Prefix, evaluate
from genz_pyro.fm.offline.table import Table

__all__ = ["make_planted", "oracle_r2", "HIDDEN_POOL", "PLANTED_TASK"]

PLANTED_TASK = "Predict the (standardised) log sale price of a house listing from its record."

HIDDEN_POOL: tuple[Predicate, ...] = (
    Compare("bedrooms", ">=", 4.0),
    Prefix("zipcode", "921"),
    Contains("amenities", "pool"),
    Mentions("description", "ocean view"),
    Equals("style", "Victorian"),
    Between("year_built", 1950.0, 1975.0),
    Compare("lot_size", ">=", 10000.0),
    Contains("amenities", "solar panels"),
)

_ZIPS = ("92101", "92103", "92109", "92117", "85004", "85251", "85255", "60601", "60614", "60657", "30301", "30309")
_ZIP_P = np.array([0.09, 0.08, 0.07, 0.06, 0.09, 0.08, 0.08, 0.1, 0.09, 0.08, 0.09, 0.09])
_STYLES = ("Colonial", "Ranch", "Modern", "Victorian", "Craftsman", "Tudor")
_STYLE_P = np.array([0.2, 0.22, 0.18, 0.18, 0.12, 0.1])
_AMENITIES = ("pool", "garage", "garden", "fireplace", "balcony", "basement", "solar panels", "hot tub")
_AMENITY_P = np.array([0.25, 0.55, 0.4, 0.3, 0.3, 0.35, 0.2, 0.1])
_PHRASES = ("bright kitchen", "quiet street", "hardwood floors", "walk-in closet", "large backyard",
            "recently painted", "close to schools", "mountain view", "near the ocean", "open floor plan",
            "city view", "updated bathroom")
_AGENTS = ("Smith Realty", "Coastal Homes", "Desert Properties", "Lakeside Group", "Urban Nest")


def _record(rng: np.random.Generator) -> dict:
    bedrooms = int(rng.choice(np.arange(1, 7), p=[0.1, 0.25, 0.3, 0.2, 0.1, 0.05]))
    area = int(round(float(np.exp(rng.normal(np.log(900 + 250 * bedrooms), 0.35))) / 10) * 10)
    year = int(np.clip(np.round(rng.normal(1970, 25)), 1900, 2020))
    amenities = [a for a, p in zip(_AMENITIES, _AMENITY_P) if rng.random() < p]
    phrases = list(rng.choice(len(_PHRASES), size=int(rng.integers(2, 5)), replace=False))
    words = [_PHRASES[i] for i in sorted(phrases)]
    if rng.random() < 0.2:
        words.insert(int(rng.integers(0, len(words) + 1)), "ocean view")
    text = "Charming home with " + ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1] + "."
    return {
        "bedrooms": bedrooms,
        "bathrooms": float(max(1.0, np.round(2 * (0.6 * bedrooms + rng.normal(0, 0.7))) / 2)),
        "area": area,
        "year_built": year,
        "lot_size": int(round(float(np.exp(rng.normal(np.log(7000), 0.45))) / 100) * 100),
        "zipcode": str(rng.choice(_ZIPS, p=_ZIP_P / _ZIP_P.sum())),
        "style": str(rng.choice(_STYLES, p=_STYLE_P / _STYLE_P.sum())),
        "amenities": ", ".join(amenities),
        "agent": str(rng.choice(_AGENTS)),
        "description": text,
    }


def make_planted(
    n: int = 1000,
    *,
    num_features: int = 6,
    target_dim: int = 1,
    noise: float | None = None,
    seed: int = 0,
) -> Dataset:
    """Records with targets from ``num_features`` hidden predicates plus Gaussian noise.

    Args:
        n: number of records (>= 20).
        num_features: hidden predicates taken from :data:`HIDDEN_POOL` (1..8).
        target_dim: ``D``, the target dimension.
        noise: noise SD; ``None`` picks it so that the oracle R^2 is 0.85.
        seed: seeds the records, the weights, the noise and the split.

    Returns:
        a :class:`Dataset` named ``"planted"``: items ``"p0".."p{n-1}"`` (dicts),
        targets ``[n, D]``, split 70/10/20 (train/val/test), and
        ``extras["hidden"]`` with ``descriptions`` (K sentences), ``judgments``
        (``[n, K]`` 0/1 float), ``weights`` (``[K, D]``), ``bias`` (``[D]``) and
        ``noise_std``.

    Raises:
        ValueError: naming the argument that is out of range.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 20:
        raise ValueError(f"n: expected an int >= 20, got {n!r}")
    if isinstance(num_features, bool) or not isinstance(num_features, int) or not 1 <= num_features <= len(HIDDEN_POOL):
        raise ValueError(f"num_features: expected an int in 1..{len(HIDDEN_POOL)}, got {num_features!r}")
    if isinstance(target_dim, bool) or not isinstance(target_dim, int) or target_dim < 1:
        raise ValueError(f"target_dim: expected a positive int, got {target_dim!r}")
    if noise is not None and not (isinstance(noise, (int, float)) and noise >= 0):
        raise ValueError(f"noise: expected a non-negative SD or None, got {noise!r}")
    rng = np.random.default_rng(seed)
    items = {f"p{i}": _record(rng) for i in range(n)}
    hidden = HIDDEN_POOL[:num_features]
    table = Table(items)
    z = np.stack([evaluate(p, table) for p in hidden], axis=1).astype(np.float64)  # [n, K]
    mags = rng.uniform(0.8, 1.2, size=(num_features, target_dim))
    if target_dim == 1:
        w = mags * rng.choice([-1.0, 1.0], size=(num_features, 1))
    else:
        dirs = rng.normal(size=(num_features, target_dim))
        w = dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * mags.mean(axis=1, keepdims=True) * np.sqrt(target_dim)
    bias = rng.normal(0.0, 0.5, size=target_dim)
    signal = z @ w  # [n, D]
    if noise is None:
        var_signal = float(signal.var(axis=0).mean())
        noise_std = float(np.sqrt(var_signal * (1 - 0.85) / 0.85))
    else:
        noise_std = float(noise)
    y = bias[None, :] + signal + rng.normal(0.0, noise_std, size=signal.shape)
    train, val, test = split_indices(n, test_fraction=0.2, val_fraction=0.125, seed=seed)
    return Dataset(
        name="planted",
        items=items,
        targets=y,
        target_names=tuple(f"y{d}" for d in range(target_dim)),
        train=train,
        val=val,
        test=test,
        task=PLANTED_TASK,
        extras={
            "hidden": {
                "descriptions": [render(p) for p in hidden],
                "judgments": z,
                "weights": w,
                "bias": bias,
                "noise_std": noise_std,
            }
        },
    )


def oracle_r2(dataset: Dataset) -> float:
    """Held-out R^2 of the oracle: least squares of the targets on the hidden
    predicates (plus intercept) fitted on ``train``, scored on ``test`` (pooled over
    dimensions: ``1 - SSE / SST``, SST around the training mean)."""
    hidden = dataset.extras.get("hidden")
    if not hidden:
        raise ValueError("dataset: has no extras['hidden']; build it with make_planted")
    z = np.asarray(hidden["judgments"], dtype=np.float64)
    x = np.concatenate([z, np.ones((z.shape[0], 1))], axis=1)
    y = np.asarray(dataset.targets, dtype=np.float64)
    tr, te = dataset.train, dataset.test
    coef, *_ = np.linalg.lstsq(x[tr], y[tr], rcond=None)
    sse = float(((y[te] - x[te] @ coef) ** 2).sum())
    sst = float(((y[te] - y[tr].mean(axis=0)) ** 2).sum())
    return 1.0 - sse / sst
