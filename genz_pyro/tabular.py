"""A user's own CSV or JSONL file as a :class:`~genz_pyro.datasets.base.Dataset`.

One row (CSV) or one JSON object a line (JSONL) per item. The caller names:

- the item column(s): one column makes the item its value (a string); several make
  the item a record ``{column: value}`` (numbers parsed, so the offline model can
  compare them);
- the target column(s): ``D`` numeric columns, the targets ``[N, D]``;
- optional covariate column(s): ``C`` numeric columns, standardised with the
  TRAINING rows' mean and SD (the link adds its own intercept);
- an optional id column (default ids ``row-1``, ``row-2``, ...);
- the split: seeded and random (``test_fraction`` of the rows for test, default 0.2, then
  ``val_fraction`` of the rest for validation, default 0.2), or given by a ``split_column``
  whose values are ``train``, ``val`` (or ``validation``) and ``test``.

Every error names the file, the column and the row.

Example::

    ds = load_table("listings.csv", item_columns=["description", "zipcode"],
                    target_columns=["log_price"], covariate_columns=["area"])
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genz_pyro.datasets.base import Dataset, split_indices

__all__ = ["read_rows", "load_table", "parse_columns", "SPLIT_VALUES"]

#: accepted values of a split column (case and surrounding spaces ignored)
SPLIT_VALUES = {"train": "train", "val": "val", "validation": "val", "test": "test"}


def parse_columns(spec: str | Sequence[str] | None, *, name: str) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]`` (``None`` -> ``[]``).

    Raises:
        ValueError: naming ``name`` for an empty or repeated column name.
    """
    if spec is None:
        return []
    parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec)]
    if any(not p for p in parts):
        raise ValueError(f"{name}: empty column name in {spec!r}; give comma-separated names, e.g. 'title,year'")
    dup = [p for i, p in enumerate(parts) if p in parts[:i]]
    if dup:
        raise ValueError(f"{name}: column {dup[0]!r} is given twice; name each column once")
    return parts


def _decode(p: Path, encoding: str | None) -> str:
    """The text of ``p``: UTF-8 by default, a byte-order mark (Excel's "CSV UTF-8") dropped.

    Raises:
        ValueError: naming the file, the line and the fix for bytes that are not in the
            encoding, or for an unknown encoding name.
    """
    enc = encoding or "utf-8"
    try:
        name = codecs.lookup(enc).name
    except LookupError:
        raise ValueError(f"encoding: unknown encoding {enc!r}; give a Python codec name such as utf-8, "
                         "latin-1 or cp1252") from None
    if name == "utf-8":
        name = "utf-8-sig"  # the same, except that a leading BOM is not part of the first column name
    data = p.read_bytes()
    try:
        return data.decode(name)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"items_file: {p} is not valid {enc} (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8, "
            "or pass its encoding, e.g. --encoding latin-1 (or cp1252 for Windows files)"
        ) from None


def read_rows(path: str | Path, *, encoding: str | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Read a CSV (header row) or JSONL file: ``(column names, rows)``.

    The format follows the suffix: ``.jsonl``/``.ndjson``/``.json`` is JSON lines,
    anything else CSV. CSV values stay strings; JSONL values keep their JSON types.
    ``encoding``: the file's text encoding (default UTF-8; a leading byte-order mark is
    dropped).

    Raises:
        ValueError: naming the file and line for a missing file, an empty file, bytes
            that are not in the encoding, or a line that is not a JSON object.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"items_file: {p} does not exist; pass a CSV (with a header row) or JSONL file")
    text = _decode(p, encoding)
    if p.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows: list[dict[str, Any]] = []
        columns: list[str] = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"items_file: {p} line {lineno} is not valid JSON ({exc.msg}); "
                                 "write one JSON object per line") from None
            if not isinstance(obj, dict):
                raise ValueError(f"items_file: {p} line {lineno} is a {type(obj).__name__}, not a JSON object")
            for k in obj:
                if k not in columns:
                    columns.append(k)
            rows.append(obj)
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = list(reader.fieldnames or [])
        rows = [dict(r) for r in reader]
    if not rows:
        raise ValueError(f"items_file: {p} has no data rows")
    return columns, rows


def _number(value: Any, *, path: Path, column: str, row: int, role: str) -> float:
    try:
        if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{role}: column {column!r} of {path} row {row} holds {value!r}, not a number; "
            f"fix or drop that row, or choose another {role.replace('_', '-')}"
        ) from None
    if not math.isfinite(x):
        raise ValueError(f"{role}: column {column!r} of {path} row {row} is {value!r}; give a finite number")
    return x


def _item_value(value: Any) -> Any:
    """Parse numeric strings to int/float (record items), keep the rest."""
    if isinstance(value, str):
        s = value.strip()
        try:
            return int(s)
        except ValueError:
            pass
        try:
            x = float(s)
            return x if math.isfinite(x) else s
        except ValueError:
            return s
    return value


def _split_from_column(rows: list[dict[str, Any]], column: str, path: Path) -> tuple[np.ndarray, ...]:
    """(train, val, test) row indices from a column of train / val / test values.

    Raises:
        ValueError: naming the row of a value that is not one of :data:`SPLIT_VALUES`, or a
            split column without training rows.
    """
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for r, row in enumerate(rows):
        raw = row.get(column)
        key = SPLIT_VALUES.get(str(raw).strip().lower()) if raw is not None else None
        if key is None:
            raise ValueError(f"split_column: column {column!r} of {path} row {r + 1} holds {raw!r}; every row must "
                             "say train, val (or validation) or test")
        parts[key].append(r)
    if len(parts["train"]) < 2:
        raise ValueError(f"split_column: column {column!r} of {path} marks {len(parts['train'])} row(s) as train; "
                         "discovery fits on the training rows and needs at least 2")
    return tuple(np.asarray(parts[k], dtype=np.int64) for k in ("train", "val", "test"))


def load_table(
    path: str | Path,
    *,
    item_columns: str | Sequence[str],
    target_columns: str | Sequence[str],
    covariate_columns: str | Sequence[str] | None = None,
    id_column: str | None = None,
    encoding: str | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    task: str | None = None,
    name: str | None = None,
    split_column: str | None = None,
) -> Dataset:
    """Load a CSV/JSONL file as a Dataset with a seeded train/val/test split.

    Args:
        path: the file.
        item_columns: the column(s) shown to the foundation model.
        target_columns: ``D`` numeric target column(s).
        covariate_columns: ``C`` numeric covariate column(s) (standardised on train rows).
        id_column: a column of unique item ids (default ``row-<n>``).
        encoding: the file's text encoding (default UTF-8, with or without a byte-order mark).
        seed, test_fraction, val_fraction: the split (:func:`split_indices`).
        split_column: a column of ``train`` / ``val`` / ``test`` per row, used instead of the
            random split (it must not be an item, target or covariate column).
        task: one sentence for the zero-shot baseline (default from the target names).
        name: dataset name (default the file's stem).

    Returns:
        Dataset with targets ``[N, D]``, covariates ``[N, C]`` or ``None``;
        ``extras["covariate_mean"]``/``["covariate_std"]`` ``[C]``.

    Raises:
        ValueError: naming the argument, the column and the row.
    """
    p = Path(path)
    items_cols = parse_columns(item_columns, name="item_columns")
    target_cols = parse_columns(target_columns, name="target_columns")
    cov_cols = parse_columns(covariate_columns, name="covariate_columns")
    if not items_cols:
        raise ValueError("item_columns: name at least one column holding the item text or fields")
    if not target_cols:
        raise ValueError("target_columns: name at least one numeric target column")
    columns, rows = read_rows(p, encoding=encoding)
    for role, cols in (("item_columns", items_cols), ("target_columns", target_cols),
                       ("covariate_columns", cov_cols), ("id_column", [id_column] if id_column else []),
                       ("split_column", [split_column] if split_column else [])):
        for c in cols:
            if c not in columns:
                raise ValueError(f"{role}: column {c!r} is not in {p}; its columns are {columns}")
    overlap = set(target_cols) & (set(items_cols) | set(cov_cols))
    if overlap:
        raise ValueError(f"target_columns: {sorted(overlap)[0]!r} is also an item or covariate column; "
                         "the model must not see the target")
    n = len(rows)
    items: dict[str, Any] = {}
    for r, row in enumerate(rows, start=1):
        if id_column:
            raw_id = row.get(id_column)
            if raw_id is None or not str(raw_id).strip():
                raise ValueError(f"id_column: column {id_column!r} of {p} row {r} is empty; give every row an id")
            item_id = str(raw_id).strip()
            if item_id in items:
                raise ValueError(f"id_column: id {item_id!r} of {p} row {r} repeats an earlier row; ids must be unique")
        else:
            item_id = f"row-{r}"
        missing = [c for c in items_cols if row.get(c) is None or (isinstance(row.get(c), str) and not row[c].strip())]
        if len(missing) == len(items_cols):
            raise ValueError(f"item_columns: every item column is empty in {p} row {r}; fill it or drop the row")
        if len(items_cols) == 1:
            v = row[items_cols[0]]
            items[item_id] = v if isinstance(v, (str, dict, list)) else json.dumps(v)
        else:
            items[item_id] = {c: _item_value(row.get(c)) for c in items_cols if c not in missing}
    y = np.array([[_number(row.get(c), path=p, column=c, row=r, role="target_columns") for c in target_cols]
                  for r, row in enumerate(rows, start=1)])
    if split_column:
        if split_column in set(items_cols) | set(target_cols) | set(cov_cols):
            raise ValueError(f"split_column: {split_column!r} is also an item, target or covariate column; "
                             "give the split in a column of its own")
        train, val, test = _split_from_column(rows, split_column, p)
    else:
        train, val, test = split_indices(n, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed)
    u = None
    extras: dict[str, Any] = {}
    if cov_cols:
        u = np.array([[_number(row.get(c), path=p, column=c, row=r, role="covariate_columns") for c in cov_cols]
                      for r, row in enumerate(rows, start=1)])
        mean, std = u[train].mean(0), u[train].std(0)
        std = np.where(std > 0, std, 1.0)
        u = (u - mean) / std
        extras.update(covariate_mean=mean, covariate_std=std)
    return Dataset(
        name=name or p.stem,
        items=items,
        targets=y,
        covariates=u,
        covariate_names=tuple(cov_cols),
        target_names=tuple(target_cols),
        train=train,
        val=val,
        test=test,
        task=task or f"Predict {', '.join(target_cols)} of each item.",
        extras=extras,
    )
