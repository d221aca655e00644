"""The dataset of a ``genz fit`` command: a bundled dataset or the user's CSV/JSONL file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from genz_pyro.cli.common import CliError

__all__ = ["DEFAULT_METRICS", "load_dataset", "select_item_fields", "data_dir"]

DEFAULT_METRICS = {
    "houses": "median_absolute_error",
    "movies": "mean_cosine_similarity",
    "binary": "r2",
    "planted": "r2",
}


def data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("GENZ_DATA"):
        return Path(os.environ["GENZ_DATA"])
    return Path.cwd() / ".." / "shared" / "data"


def load_dataset(settings: Mapping[str, Any]) -> Any:
    """The Dataset named by a ``genz fit`` settings dict (see :func:`fit_settings`), its records
    cut to ``settings["item_fields"]`` when given (see :func:`select_item_fields`; ``"all"``
    keeps every field). By default the fields that the covariates carry
    (``extras["covariate_fields"]``: houses' area, bedrooms and bathrooms) are not shown to
    the model, which points discovery at what the covariates miss.

    The split: ``test_fraction`` / ``val_fraction`` (default 0.2 / 0.2: 20% of the items for
    test, 20% of the rest for validation, seeded by ``seed``) or, for a user's file, the
    ``split_column`` (train / val / test per row).

    Raises:
        CliError: a missing data folder or file (naming the flag that fixes it).
    """
    dataset = _load_dataset(settings)
    fields = settings.get("item_fields")
    if fields and fields != "all":
        dataset = select_item_fields(dataset, fields)
    elif not fields and dataset.extras.get("covariate_fields"):
        hidden = set(dataset.extras["covariate_fields"])
        shown = [f for f in _record_fields(dataset) if f not in hidden]
        if shown:
            dataset = select_item_fields(dataset, shown)
    return dataset


def _record_fields(dataset: Any) -> list[str]:
    """Every field of the dataset's records, in first-seen order."""
    out: list[str] = []
    for item in dataset.items.values():
        for f in item if isinstance(item, Mapping) else ():
            if f not in out:
                out.append(f)
    return out


def _fractions(settings: Mapping[str, Any]) -> dict[str, float]:
    """The ``test_fraction`` / ``val_fraction`` keyword arguments given (others keep the loader's)."""
    return {k: float(settings[k]) for k in ("test_fraction", "val_fraction") if settings.get(k) is not None}


def _resplit(dataset: Any, settings: Mapping[str, Any]) -> Any:
    """A bundled dataset without covariates, split anew when ``--test-fraction``/``--val-fraction`` are given."""
    import dataclasses

    from genz_pyro.datasets.base import split_indices

    fr = _fractions(settings)
    if not fr:
        return dataset
    train, val, test = split_indices(len(dataset.items), test_fraction=fr.get("test_fraction", 0.2),
                                     val_fraction=fr.get("val_fraction", 0.2), seed=int(settings["seed"]))
    return dataclasses.replace(dataset, train=train, val=val, test=test)


def select_item_fields(dataset: Any, fields: str | Sequence[str]) -> Any:
    """The dataset with each record cut to ``fields`` (what the foundation model sees).

    Leaving out the fields that the covariates already carry points feature discovery at
    what they miss (houses: the zip code, with area, bedrooms and bathrooms as covariates).
    Targets, covariates and the split are unchanged.

    Raises:
        CliError: the items are not records, or a field is absent from a record.
    """
    import dataclasses

    names = [f.strip() for f in fields.split(",")] if isinstance(fields, str) else [str(f) for f in fields]
    names = [f for f in names if f]
    if not names:
        raise CliError("--item-fields: give at least one field name (comma-separated)")
    cut = {}
    for item_id, item in dataset.items.items():
        if not isinstance(item, Mapping):
            raise CliError(f"--item-fields: item {item_id!r} is not a record (a dict of fields); drop --item-fields")
        missing = [f for f in names if f not in item]
        if missing:
            raise CliError(f"--item-fields: item {item_id!r} has no field {missing[0]!r} (its fields: "
                           f"{', '.join(map(str, item))}); pick fields every record has")
        cut[item_id] = {f: item[f] for f in names}
    return dataclasses.replace(dataset, items=cut)


def _load_dataset(settings: Mapping[str, Any]) -> Any:
    seed = int(settings["seed"])
    name = settings.get("dataset")
    if settings.get("items_file"):
        from genz_pyro.tabular import load_table

        try:
            return load_table(
                settings["items_file"], item_columns=settings["item_column"],
                target_columns=settings["target_column"], covariate_columns=settings.get("covariate_column"),
                id_column=settings.get("id_column"), encoding=settings.get("encoding"), seed=seed,
                split_column=settings.get("split_column"), **_fractions(settings),
            )
        except ValueError as exc:
            raise CliError(_flagify(str(exc))) from None
    if name == "binary":
        from genz_pyro.datasets.binary import load_binary

        return _resplit(load_binary(_given(settings, "bits", 9), seed=seed), settings)
    if name == "planted":
        from genz_pyro.datasets.planted import make_planted

        return _resplit(make_planted(_given(settings, "n_items", 400),
                                     num_features=_given(settings, "planted_features", 4), seed=seed), settings)
    data = data_dir(settings.get("data_dir"))
    if name == "houses":
        from genz_pyro.datasets.houses import load_houses

        folder = data / "houses-ahmed-moustafa-2016"
        if not folder.exists():
            raise CliError(f"--data-dir: {folder} not found; pass --data-dir (or set GENZ_DATA) to the folder "
                           "holding houses-ahmed-moustafa-2016/")
        return load_houses(folder, seed=seed, descriptions=settings.get("descriptions"), **_fractions(settings))
    if name == "movies":
        from genz_pyro.datasets.movies import load_movies

        folder = data / "movielens-latest-small"
        if not folder.exists():
            raise CliError(f"--data-dir: {folder} not found; pass --data-dir (or set GENZ_DATA) to the folder "
                           "holding movielens-latest-small/")
        db = data / "bokeh-sampledata-movies" / "movies.db"
        return load_movies(folder, bokeh_db=db if db.exists() else None, seed=seed, **_fractions(settings))
    raise CliError("--dataset: choose houses, movies, binary or planted, or give --items-file with "
                   "--item-column and --target-column")


def _given(settings: Mapping[str, Any], key: str, default: int) -> int:
    """``settings[key]`` when given (0 included), else ``default``."""
    v = settings.get(key)
    return default if v is None else int(v)


def _flagify(msg: str) -> str:
    """``item_columns: ...`` -> ``--item-column: ...`` (messages of genz_pyro.tabular)."""
    for arg, flag in (("item_columns", "--item-column"), ("target_columns", "--target-column"),
                      ("covariate_columns", "--covariate-column"), ("id_column", "--id-column"),
                      ("items_file", "--items-file"), ("split_column", "--split-column"),
                      ("test_fraction", "--test-fraction"), ("val_fraction", "--val-fraction"),
                      ("encoding", "--encoding")):
        if msg.startswith(arg + ":"):
            return flag + msg[len(arg):]
    return msg
