"""The settings of ``genz fit``: the flags that define a run, checked before anything is
created, and the validated settings of the bundled datasets."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from genz_pyro.cli.common import CliError
from genz_pyro.cli.data import DEFAULT_METRICS

__all__ = ["VALIDATED_SETTINGS", "SETTING_KEYS", "fit_settings"]

#: ``genz fit --dataset D --validated``: the hand-tuned settings of earlier releases for the bundled
#: datasets (chosen on validation by hand over seeds 0-4); the defaults now choose on validation
#: themselves (``--algorithm auto``, ``--eps auto``, ``--ridge auto``). Flags given explicitly win.
VALIDATED_SETTINGS: dict[str, dict[str, Any]] = {
    "houses": {"algorithm": "1", "cycles": 25, "item_fields": "zipcode", "eps": 0.01, "ridge": 1.0,
               "min_activity": 0.01, "refit_train_val": True},
    "movies": {"algorithm": "1", "cycles": 80, "eps": 0.001, "ridge": 10.0, "refit_train_val": True},
}


SETTING_KEYS = ("dataset", "data_dir", "items_file", "item_column", "target_column", "covariate_column",
                 "id_column", "descriptions", "bits", "n_items", "planted_features", "model", "base_url", "link",
                 "engine", "algorithm", "cycles", "n_add", "n_remove", "zero_shot_n", "zero_shot_baseline",
                 "metric", "seed", "max_sweeps", "cold_start", "item_fields", "eps", "ridge", "refit_train_val",
                 "min_activity", "judge_model", "soft", "judges", "judge_variant", "shared_rates", "patience",
                 "prune_patience", "test_fraction", "val_fraction", "split_column", "encoding", "eps_prior")

#: Flags that apply to one bundled dataset only (given with another, they are refused).
_DATASET_FLAGS = {"bits": "binary", "n_items": "planted", "planted_features": "planted", "descriptions": "houses"}


def fit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings dict of ``genz fit`` (saved as the run's ``cli.json``), checked.

    Raises:
        CliError: a missing or inconsistent flag, or a value out of range (naming the flag).
    """
    s = {k: getattr(args, k, None) for k in SETTING_KEYS}
    if isinstance(s["judge_model"], list):  # --judge-model given n times: the run's judge, then n - 1 further judges
        s["judge_model"], s["judges"] = s["judge_model"][0], s["judge_model"][1:]
    if s["items_file"]:
        if s["dataset"]:
            raise CliError("--dataset: give either --dataset or --items-file, not both")
        if not s["item_column"] or not s["target_column"]:
            raise CliError("--item-column/--target-column: --items-file needs both (comma-separated column names)")
    elif not s["dataset"]:
        raise CliError("--dataset: choose houses, movies, binary or planted, or give --items-file")
    if s["data_dir"]:
        s["data_dir"] = str(Path(s["data_dir"]).resolve())
    for k in ("items_file", "descriptions"):
        if s[k]:
            s[k] = str(Path(s[k]).resolve())
    s["metric"] = s["metric"] or DEFAULT_METRICS.get(s["dataset"] or "", "r2")
    from genz_pyro.discovery.algorithms import EPS_FIXED_MIN
    from genz_pyro.discovery.auto import AUTO_DEFAULTS

    if s["algorithm"] not in ("zero-shot", "auto"):
        s["algorithm"] = int(s["algorithm"])
    auto = s["algorithm"] == "auto"
    if s["cycles"] is None:
        s["cycles"] = AUTO_DEFAULTS["max_adds"] if auto else 3
    for key in ("patience", "prune_patience"):
        if s[key] is None:
            s[key] = AUTO_DEFAULTS[key]
    check_ranges(s)
    if s["cycles"] < 0 or s["patience"] < 1 or s["prune_patience"] < 0:
        raise CliError(f"--cycles/--patience/--prune-patience: need >= 0, >= 1, >= 0; got {s['cycles']}, "
                       f"{s['patience']}, {s['prune_patience']}")
    if s["eps"] is None:
        s["eps"] = "auto"
    if not isinstance(s["eps"], str) and not EPS_FIXED_MIN <= s["eps"] < 0.5:
        raise CliError(f"--eps: must lie in [{EPS_FIXED_MIN:g}, 0.5), got {s['eps']}; or give auto (choose on "
                       "validation, the default) or learned")
    if s["eps_prior"] is not None and not (math.isfinite(s["eps_prior"]) and s["eps_prior"] >= 0):
        raise CliError(f"--eps-prior: must be a finite number >= 0 (0: no prior on eps), got {s['eps_prior']}")
    if s["min_activity"] is not None and not 0 <= s["min_activity"] < 0.5:
        raise CliError(f"--min-activity: must lie in [0, 0.5), got {s['min_activity']} (default 0.02)")
    if s["ridge"] is None:
        s["ridge"] = "auto"
    if not isinstance(s["ridge"], str) and not (math.isfinite(s["ridge"]) and s["ridge"] >= 0):
        raise CliError(f"--ridge: must be a finite number >= 0, got {s['ridge']}")
    if not isinstance(s["ridge"], str) and s["ridge"] and s["link"] != "linear":
        raise CliError("--ridge: applies to the linear link only; drop it or use --link linear")
    _check_split(s)
    return s


def _check_split(s: dict[str, Any]) -> None:
    """``--test-fraction``, ``--val-fraction``, ``--split-column``: ranges and combinations."""
    for key, flag in (("test_fraction", "--test-fraction"), ("val_fraction", "--val-fraction")):
        v = s[key]
        if v is not None and not 0 <= v < 1:
            raise CliError(f"{flag}: must lie in [0, 1), got {v}")
    if s["split_column"]:
        if not s["items_file"]:
            raise CliError("--split-column: applies to your own file (--items-file); the bundled datasets split "
                           "with --test-fraction/--val-fraction")
        if s["test_fraction"] is not None or s["val_fraction"] is not None:
            raise CliError("--split-column: the column gives the split; drop --test-fraction/--val-fraction")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _whole(s: dict[str, Any], key: str, lo: int, hi: int | None = None) -> None:
    v = s.get(key)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise CliError(f"{_flag(key)}: must be a whole number {rng}, got {v!r}")


def check_ranges(s: dict[str, Any]) -> None:
    """The numeric flags of a settings dict in range, the dataset-only flags with their
    dataset, the encoding known (nothing is created before these checks pass).

    Raises:
        CliError: naming the flag, its allowed range and the value given.
    """
    import codecs

    for key, lo, hi in (("seed", 0, None), ("cycles", 0, None), ("n_add", 0, None), ("n_remove", 0, None),
                        ("zero_shot_baseline", 0, None), ("max_sweeps", 1, None), ("bits", 1, 16),
                        ("n_items", 20, None), ("planted_features", 1, 8)):
        _whole(s, key, lo, hi)
    if s.get("algorithm") == "zero-shot":
        _whole(s, "zero_shot_n", 1)
    for key, name in _DATASET_FLAGS.items():
        if s.get(key) is not None and s.get("dataset") != name:
            raise CliError(f"{_flag(key)}: applies to --dataset {name} only; drop it")
    if s.get("encoding") is not None:
        try:
            codecs.lookup(s["encoding"])
        except LookupError:
            raise CliError(f"--encoding: unknown encoding {s['encoding']!r}; give a Python codec name such as "
                           "utf-8, latin-1 or cp1252") from None
        if not s.get("items_file"):
            raise CliError("--encoding: applies to --items-file only; drop it")
