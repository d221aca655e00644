"""The houses dataset of Ahmed & Moustafa (2016), as used in the GenZ paper (section 5.2).

``HousesInfo.txt`` has one house per line: ``bedrooms bathrooms area zipcode price``
(space separated, no header; line ``i`` is house ``i`` and its photos are
``i_{bathroom,bedroom,frontal,kitchen}.jpg``). :func:`load_houses` returns a
:class:`~genz_pyro.datasets.base.Dataset` with

- items ``"house-<line>"``: records **without the price**: ``bedrooms``, ``bathrooms``,
  ``area`` (sq ft), ``zipcode`` (a string) and, when a descriptions file is given,
  ``image_descriptions`` ``{kind: text}`` (the paper's GPT photo descriptions; produced
  here by ``genz describe-images``);
- targets ``[N, 1]``: log price (USD);
- covariates ``[N, 3]``: ``log_area`` (or ``area`` with ``log_area=False``), ``bedrooms``,
  ``bathrooms``, standardised with the mean and SD of the **training rows only**
  (stored in ``extras``). The paper's covariates are "intercept, area, bedrooms,
  bathrooms": the intercept is the link's bias, so no constant column is added. The
  area enters on the log scale by default because the target is log price (an
  elasticity); on raw area the zip-code ridge baseline scores 0.19 instead of 0.17;
- a seeded split: ``test_fraction`` of the houses for test, ``val_fraction`` of the rest
  for validation (model selection), the remainder for training.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from genz_pyro.datasets.base import Dataset, split_indices

__all__ = ["load_houses", "read_houses_info", "read_descriptions", "PHOTO_KINDS", "HOUSES_TASK"]

PHOTO_KINDS: tuple[str, ...] = ("bathroom", "bedroom", "frontal", "kitchen")
HOUSES_TASK = (
    "Predict the log sale price (USD) of a 2016 US house listing from its record "
    "(bedrooms, bathrooms, area in square feet, zip code and, when present, photo descriptions)."
)


def read_houses_info(path: str | Path) -> np.ndarray:
    """Parse ``HousesInfo.txt`` into ``[N, 5]`` float64 (bedrooms, bathrooms, area, zipcode, price).

    (:func:`load_houses` keeps the zipcodes as the strings written in the file.)

    Raises:
        ValueError: naming the 1-based line when it does not have 5 fields, a field is not
            a number, the zipcode is not all digits or a count/area/price is not positive.
    """
    rows, _ = _parse(Path(path))
    return rows


def _parse(path: Path) -> tuple[np.ndarray, list[str]]:
    rows: list[list[float]] = []
    zips: list[str] = []
    names = ("bedrooms", "bathrooms", "area", "zipcode", "price")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                raise ValueError(
                    f"{path}: line {lineno} is empty; every line must hold "
                    "'bedrooms bathrooms area zipcode price' (remove the blank line)"
                )
            if len(fields) != 5:
                raise ValueError(
                    f"{path}: line {lineno} has {len(fields)} fields, expected 5 "
                    f"(bedrooms bathrooms area zipcode price): {line.strip()!r}"
                )
            values = []
            for name, text in zip(names, fields):
                try:
                    v = float(text)
                except ValueError:
                    raise ValueError(
                        f"{path}: line {lineno}: {name} {text!r} is not a number; fix the line"
                    ) from None
                if not math.isfinite(v) or (name != "zipcode" and v <= 0):
                    raise ValueError(f"{path}: line {lineno}: {name} must be a positive number, got {text!r}")
                values.append(v)
            if not fields[3].isdigit():
                raise ValueError(f"{path}: line {lineno}: zipcode {fields[3]!r} must be digits only")
            rows.append(values)
            zips.append(fields[3])
    if not rows:
        raise ValueError(f"{path}: no houses found; expected 535 lines of 5 numbers")
    return np.asarray(rows, dtype=np.float64), zips


def _house_number(key: str) -> int | None:
    """``"house-12"``, ``"12"``, ``"12_frontal.jpg"`` (any folder) -> 12; else None."""
    stem = Path(str(key)).name
    if stem.startswith("house-"):
        stem = stem[len("house-"):]
    head = stem.split("_", 1)[0].split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _photo_kind(key: str) -> str | None:
    stem = Path(str(key)).name.rsplit(".", 1)[0]
    if "_" in stem:
        kind = stem.split("_", 1)[1]
        return kind if kind in PHOTO_KINDS else None
    return None


_KEY_FIELDS = ("image", "photo", "file", "id")
_TEXT_FIELDS = ("description", "text")


def _is_record(obj: Any) -> bool:
    return isinstance(obj, dict) and any(k in obj for k in _KEY_FIELDS) and any(k in obj for k in _TEXT_FIELDS)


def read_descriptions(path: str | Path, num_houses: int) -> dict[int, dict[str, str]]:
    """Read photo descriptions into ``{house_number: {kind: text}}`` (kinds in :data:`PHOTO_KINDS`).

    Accepted formats:

    - JSON object whose keys are photo files (``"12_frontal.jpg"``, any folder prefix)
      with text values, or house ids (``"house-12"`` or ``"12"``) with ``{kind: text}``
      values (or a single text, stored under kind ``"all"``);
    - JSONL, one object a line with an ``"image"``/``"photo"``/``"file"``/``"id"`` key and
      a ``"description"``/``"text"`` key (what ``genz describe-images`` writes), or a JSON
      list of such objects.

    Raises:
        ValueError: naming the key or line that is not a known house/photo or has no text.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    pairs: list[tuple[str, Any, str]] = []  # (key, value, where)
    try:
        obj = json.loads(text)
        records = None
        if isinstance(obj, list):
            records = [(rec, f"record {i}") for i, rec in enumerate(obj)]
        elif isinstance(obj, dict) and _is_record(obj):  # a JSONL file of one line
            records = [(obj, "line 1")]
        elif isinstance(obj, dict):
            pairs = [(str(k), v, f"key {k!r}") for k, v in obj.items()]
        else:
            raise ValueError(f"{path}: a JSON descriptions file must hold an object {{photo or house id: text}}")
    except json.JSONDecodeError:
        records = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((json.loads(line), f"line {lineno}"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {lineno} is not valid JSON ({exc.msg})") from None
    for rec, where in records or []:
        if not _is_record(rec):
            raise ValueError(
                f"{path}: {where} needs an 'image' (or 'photo'/'file'/'id') and a 'description' (or 'text') key"
            )
        key = next(rec[k] for k in _KEY_FIELDS if k in rec)
        val = next(rec[k] for k in _TEXT_FIELDS if k in rec)
        pairs.append((str(key), val, where))
    out: dict[int, dict[str, str]] = {}
    for key, val, where in pairs:
        n = _house_number(key)
        if n is None or not 1 <= n <= num_houses:
            raise ValueError(
                f"{path}: {where}: {key!r} is not a house of this file (houses 1..{num_houses}); "
                "use 'house-<n>', '<n>' or '<n>_<kind>.jpg'"
            )
        kind = _photo_kind(key)
        if kind is not None:
            if not isinstance(val, str) or not val.strip():
                raise ValueError(f"{path}: {where}: the description must be non-empty text")
            out.setdefault(n, {})[kind] = val.strip()
        elif isinstance(val, dict):
            for k, v in val.items():
                if not isinstance(v, str) or not v.strip():
                    raise ValueError(f"{path}: {where}: description {k!r} must be non-empty text")
                out.setdefault(n, {})[str(k)] = v.strip()
        elif isinstance(val, str) and val.strip():
            out.setdefault(n, {})["all"] = val.strip()
        else:
            raise ValueError(f"{path}: {where}: the description must be text or {{kind: text}}")
    return out


def load_houses(
    path: str | Path,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    images_dir: str | Path | None = None,
    descriptions: str | Path | None = None,
    log_area: bool = True,
) -> Dataset:
    """Load the houses dataset.

    Args:
        path: ``HousesInfo.txt`` or the folder holding it.
        seed: seed of the train/val/test split.
        test_fraction: fraction of all houses held out for test (paper: 0.2).
        val_fraction: fraction of the remaining houses held out for validation.
        images_dir: optional folder of the photos ``<n>_<kind>.jpg``; their paths are
            recorded in ``extras["image_paths"]`` (``{item_id: {kind: path}}``) for
            ``genz describe-images``; the photos are not read here.
        descriptions: optional JSON/JSONL of photo descriptions (see
            :func:`read_descriptions`), added to each item as ``image_descriptions``.
        log_area: use ``log(area)`` as the area covariate (default; see module doc).

    Returns:
        Dataset ``"houses"``: 535 items, targets ``[535, 1]`` log price, covariates
        ``[535, 3]``; ``extras`` holds ``price`` ``[N]``, ``zipcodes`` ``[N]`` (str),
        ``covariate_mean``/``covariate_std`` ``[3]`` (fitted on training rows),
        ``covariate_fields`` (the record fields the covariates carry) and
        ``image_paths`` when ``images_dir`` is given.

    Raises:
        ValueError: naming the line of a malformed ``HousesInfo.txt``, a missing path, or
            a bad descriptions entry.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "HousesInfo.txt"
    if not p.is_file():
        raise ValueError(f"path: {p} does not exist; pass HousesInfo.txt or the folder that holds it")
    rows, zips = _parse(p)
    n = rows.shape[0]
    ids = [f"house-{i + 1}" for i in range(n)]

    desc = read_descriptions(descriptions, n) if descriptions is not None else {}
    image_paths: dict[str, dict[str, str]] = {}
    if images_dir is not None:
        d = Path(images_dir)
        if not d.is_dir():
            raise ValueError(f"images_dir: {d} is not a folder; pass the folder holding <n>_<kind>.jpg photos")
        for i, item_id in enumerate(ids):
            found = {k: str(d / f"{i + 1}_{k}.jpg") for k in PHOTO_KINDS if (d / f"{i + 1}_{k}.jpg").is_file()}
            if found:
                image_paths[item_id] = found
        if not image_paths:
            raise ValueError(f"images_dir: {d} holds no photos named <n>_<kind>.jpg (kinds {', '.join(PHOTO_KINDS)})")

    items: dict[str, dict[str, Any]] = {}
    for i, item_id in enumerate(ids):
        bed, bath, area, _, _ = rows[i]
        rec: dict[str, Any] = {
            "bedrooms": int(bed) if bed.is_integer() else float(bed),
            "bathrooms": int(bath) if bath.is_integer() else float(bath),
            "area": int(area) if area.is_integer() else float(area),
            "zipcode": zips[i],
        }
        if i + 1 in desc:
            rec["image_descriptions"] = dict(sorted(desc[i + 1].items()))
        items[item_id] = rec

    train, val, test = split_indices(n, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed)
    raw = np.column_stack([np.log(rows[:, 2]) if log_area else rows[:, 2], rows[:, 0], rows[:, 1]])
    mean = raw[train].mean(axis=0)
    std = raw[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    extras: dict[str, Any] = {
        "price": rows[:, 4].copy(),
        "zipcodes": np.asarray(zips),
        "covariate_mean": mean,
        "covariate_std": std,
        "source": str(p),
        # the record fields the covariates carry: genz fit does not show them to the model by default
        "covariate_fields": ("area", "bedrooms", "bathrooms"),
    }
    if images_dir is not None:
        extras["image_paths"] = image_paths
    return Dataset(
        name="houses",
        items=items,
        targets=np.log(rows[:, 4])[:, None],
        covariates=(raw - mean) / std,
        covariate_names=("log_area" if log_area else "area", "bedrooms", "bathrooms"),
        target_names=("log_price",),
        train=train,
        val=val,
        test=test,
        task=HOUSES_TASK,
        extras=extras,
    )
