"""What the estimators accept as items, targets and covariates, read into one form.

Items (``X``) may be:

- a mapping ``{id: item}`` (ids kept);
- a list (or tuple, or 1-d array of strings) of items: strings, ints or records
  (dicts); ids ``"0".."N-1"``;
- a pandas ``Series``: text (or record) items, ids from its index;
- a pandas ``DataFrame``: a table, one item per row. ``item_columns=None`` makes each
  row a record ``{column: value}`` of every column (but the covariate columns);
  a list of column names makes records of those columns; one column name (a string)
  makes the items that column's values (text items). Missing cells (``NaN``, ``None``,
  ``pd.NA``) are left out of a row's record, as in ``genz fit --items-file``; ids
  come from the index (positions when the index has repeated labels);
- a 2-d array (or a list of rows): a table whose columns are named ``x0, x1, ...``
  (the names scikit-learn gives unnamed columns); ``NaN`` is a missing cell.

``covariate_columns`` picks numeric columns of a table as covariates instead of item
fields (so one ``DataFrame`` carries both through ``cross_val_score``). Targets ``y``
and covariates may be lists, arrays, ``Series`` or ``DataFrame`` (their index must
equal the items' index when both are pandas objects).

pandas is optional (``pip install 'genz-pyro[pandas]'``); it is imported only when a
pandas object is passed or a frame is asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from genz_pyro.fm.protocol import Item

__all__ = ["ItemTable", "as_items", "read_items", "read_targets", "read_covariates", "is_pandas", "require_pandas"]

PANDAS_HINT = "install pandas: pip install 'genz-pyro[pandas]' (or pip install pandas)"


def is_pandas(obj: Any, kind: str | None = None) -> bool:
    """True when ``obj`` is a pandas object (``kind``: ``"DataFrame"`` or ``"Series"``),
    decided without importing pandas."""
    t = type(obj)
    return t.__module__.split(".")[0] == "pandas" and (kind is None or t.__name__ == kind)


def require_pandas(what: str) -> Any:
    """``import pandas`` or an ImportError naming ``what`` and the install command."""
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - pandas is in the [test] extra
        raise ImportError(f"{what} needs pandas; {PANDAS_HINT}") from exc
    return pandas


def as_items(items: Mapping[str, Item] | Sequence[Item], *, name: str = "items") -> dict[str, Item]:
    """``{id: item}`` from a mapping (kept) or a sequence (ids ``"0".."N-1"``).

    Raises:
        ValueError: naming ``name`` for a string, an empty collection or non-string ids.
    """
    if isinstance(items, (str, bytes)):
        raise ValueError(f"{name}: expected a list of items or a mapping {{id: item}}, got one string; wrap it in a list")
    if isinstance(items, Mapping):
        out = dict(items)
        bad = [k for k in out if not isinstance(k, str)]
        if bad:
            raise ValueError(f"{name}: item ids must be strings, got {bad[0]!r}; use {{str(id): item}}")
    else:
        try:
            out = {str(i): it for i, it in enumerate(items)}
        except TypeError:
            raise ValueError(f"{name}: expected a list of items or a mapping {{id: item}}, "
                             f"got {type(items).__name__}") from None
    if not out:
        raise ValueError(f"{name}: no items given")
    return out


@dataclass
class ItemTable:
    """Items read from any accepted input.

    Attributes:
        items: ordered ``{id: item}`` (``N``).
        index: the pandas index of the input (``None`` for other inputs).
        covariates: ``[N, C]`` float array of the covariate columns, or ``None``.
        columns: the table's column names (``None`` when the input is not a table).
        item_columns: the columns the items are made of (``None`` when not a table).
        covariate_columns: the columns read as covariates (``[]`` when none).
        named: the columns had names (a DataFrame), not positions (an array).
    """

    items: dict[str, Item]
    index: Any = None
    covariates: np.ndarray | None = None
    columns: list[str] | None = None
    item_columns: list[str] | None = None
    covariate_columns: list[str] = field(default_factory=list)
    named: bool = False

    @property
    def is_table(self) -> bool:
        return self.columns is not None


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    if type(v).__module__.split(".")[0] == "pandas":  # pd.NA, pd.NaT
        pd = require_pandas("reading a DataFrame")
        return bool(pd.isna(v)) if pd.api.types.is_scalar(v) else False
    if isinstance(v, np.floating):
        return bool(np.isnan(v))
    return False


def _plain(v: Any, *, where: str) -> Any:
    """A JSON-friendly cell value: numpy scalars to Python, inf and complex refused."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, complex):
        raise ValueError(f"items: {where} is complex ({v!r}); Complex data not supported: give real numbers or text")
    if isinstance(v, float) and math.isinf(v):
        raise ValueError(f"items: {where} is {v}; give a finite number (NaN marks a missing cell)")
    return v


def _ids(labels: Sequence[Any]) -> list[str]:
    ids = [str(v) for v in labels]
    return ids if len(set(ids)) == len(ids) else [str(i) for i in range(len(ids))]


def _column_list(spec: Any, name: str) -> list[Any] | None:
    if spec is None:
        return None
    cols = [spec] if isinstance(spec, (str, int)) else list(spec)
    if not cols:
        raise ValueError(f"{name}: an empty list of columns; name at least one column or pass None")
    dup = [c for i, c in enumerate(cols) if c in cols[:i]]
    if dup:
        raise ValueError(f"{name}: column {dup[0]!r} is given twice; name each column once")
    return cols


def _resolve(cols: list[Any], names: list[str], labels: list[Any], *, name: str, positional: bool) -> list[int]:
    """Positions of ``cols`` among the table's columns (labels, or ``xJ`` / ints for arrays)."""
    out = []
    for c in cols:
        if c in labels:
            out.append(labels.index(c))
        elif isinstance(c, str) and c in names:
            out.append(names.index(c))
        elif positional and isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(names):
            out.append(int(c))
        else:
            raise ValueError(f"{name}: column {c!r} is not in the items' columns {names}; name one of those")
    return out


def _table(rows: list[list[Any]], names: list[str], labels: list[Any], ids: list[str], *, named: bool,
           item_columns: Any, covariate_columns: Any, index: Any, row_names: Sequence[Any]) -> ItemTable:
    """Records (or text items) and covariates from the cells ``rows [N][P]``."""
    p = len(names)
    if p == 0:
        raise ValueError(f"items: 0 feature(s) (shape=({len(rows)}, 0)) while a minimum of 1 is required: "
                         "the table has no column; give at least one item column")
    icols = _column_list(item_columns, "item_columns")
    ccols = _column_list(covariate_columns, "covariate_columns")
    positional = not named
    cpos = _resolve(ccols, names, labels, name="covariate_columns", positional=positional) if ccols else []
    text = isinstance(item_columns, (str, int)) and not isinstance(item_columns, bool)
    if icols is None:
        ipos = [j for j in range(p) if j not in cpos]
        if not ipos:
            raise ValueError("item_columns: every column is a covariate column; leave at least one for the items")
    else:
        ipos = _resolve(icols, names, labels, name="item_columns", positional=positional)
        both = sorted(set(ipos) & set(cpos))
        if both:
            raise ValueError(f"covariate_columns: {names[both[0]]!r} is also an item column; a column is one or "
                             "the other")
    items: dict[str, Item] = {}
    for r, (item_id, row) in enumerate(zip(ids, rows)):
        label = row_names[r]
        if text:
            v = row[ipos[0]]
            if _missing(v):
                raise ValueError(f"items: row {label!r} has no value in item column {names[ipos[0]]!r}; "
                                 "fill it or drop the row")
            items[item_id] = _plain(v, where=f"row {label!r}, column {names[ipos[0]]!r}")
            continue
        rec = {names[j]: _plain(row[j], where=f"row {label!r}, column {names[j]!r}")
               for j in ipos if not _missing(row[j])}
        if not rec:
            raise ValueError(f"items: every item column of row {label!r} is missing; fill one or drop the row")
        items[item_id] = rec
    u = None
    if cpos:
        try:
            u = np.array([[row[j] for j in cpos] for row in rows], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"covariate_columns: {[names[j] for j in cpos]} must be numeric ({exc}); "
                             "encode text as item columns instead") from None
    return ItemTable(items=items, index=index, covariates=u, columns=names, item_columns=[names[j] for j in ipos],
                     covariate_columns=[names[j] for j in cpos], named=named)


def read_items(X: Any, *, item_columns: Any = None, covariate_columns: Any = None, name: str = "items") -> ItemTable:
    """Read any accepted input (module docstring) into an :class:`ItemTable`.

    Raises:
        ValueError: naming ``name`` (or the column argument) for an empty input, a
            1-d numeric array, sparse input, complex or infinite cells, unknown columns.
    """
    if X is None:
        raise ValueError(f"{name}: got None; pass a list of items, a mapping {{id: item}}, a DataFrame or a 2-d array")
    if type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name}: sparse input is not supported (items are texts or records); pass a dense array "
                        "(X.toarray()) or a DataFrame")
    if is_pandas(X, "DataFrame"):
        labels = list(X.columns)
        names = [str(c) for c in labels]
        if len(set(names)) != len(names):
            dup = [c for i, c in enumerate(names) if c in names[:i]][0]
            raise ValueError(f"{name}: the DataFrame has two columns named {dup!r}; rename one")
        rows = X.to_numpy(dtype=object).tolist() if len(X) else []
        if not rows:
            raise ValueError(f"{name}: the DataFrame has no rows (n_samples = 0)")
        index = X.index
        return _table(rows, names, labels, _ids(list(index)), named=True, item_columns=item_columns,
                      covariate_columns=covariate_columns, index=index, row_names=list(index))
    if item_columns is not None or covariate_columns is not None:
        tabular = isinstance(X, np.ndarray) and X.ndim == 2 or (
            isinstance(X, (list, tuple)) and len(X) and isinstance(X[0], (list, tuple, np.ndarray)))
        if not tabular:
            raise ValueError("item_columns, covariate_columns: these pick columns of a table; the items are not a "
                             "DataFrame or 2-d array (set them to None)")
    if is_pandas(X, "Series"):
        if len(X) == 0:
            raise ValueError(f"{name}: the Series is empty (n_samples = 0)")
        vals = X.tolist()
        bad = [lab for lab, v in zip(X.index, vals) if _missing(v)]
        if bad:
            raise ValueError(f"{name}: the Series has a missing value at index {bad[0]!r}; fill or drop it")
        ids = _ids(list(X.index))
        return ItemTable(items={i: _plain(v, where=f"index {lab!r}") for i, lab, v in zip(ids, X.index, vals)},
                         index=X.index)
    if isinstance(X, Mapping):
        return ItemTable(items=as_items(X, name=name))
    if not isinstance(X, (list, tuple, np.ndarray)) and hasattr(X, "__array__"):
        X = np.asarray(X)
    if isinstance(X, (list, tuple)) and X and all(isinstance(r, (list, tuple, np.ndarray)) for r in X):
        X = np.asarray(X, dtype=object)
    if isinstance(X, np.ndarray):
        if np.iscomplexobj(X):
            raise ValueError(f"{name}: Complex data not supported; give real numbers or text")
        if X.ndim == 2:
            n, p = X.shape
            if n == 0:
                raise ValueError(f"{name}: the array has no rows (n_samples = 0, shape {X.shape})")
            names = [f"x{j}" for j in range(p)]
            return _table(X.tolist(), names, list(range(p)), [str(i) for i in range(n)], named=False,
                          item_columns=item_columns, covariate_columns=covariate_columns, index=None,
                          row_names=list(range(n)))
        if X.ndim != 1:
            raise ValueError(f"{name}: expected a 1-d list of items or a 2-d table, got an array of shape {X.shape}")
        if X.dtype.kind in "biufc":
            raise ValueError(f"{name}: a 1-d array of numbers is ambiguous; items are texts or records. Reshape your "
                             "data either using X.reshape(-1, 1) for one numeric column, or pass a list of strings")
        X = [_plain(v, where=f"item {i}") for i, v in enumerate(X.tolist())]
    return ItemTable(items=as_items(X, name=name))


def _check_index(obj: Any, index: Any, name: str) -> None:
    if index is not None and is_pandas(obj) and not obj.index.equals(index):
        raise ValueError(f"{name}: its index differs from the items' index; align it (e.g. {name}.loc[X.index]) "
                         f"or pass {name}.to_numpy()")


def read_targets(y: Any, n: int, *, index: Any = None, name: str = "y",
                 who: str = "GenZ") -> tuple[np.ndarray, bool, list[str] | None]:
    """Targets as ``([N, D] float array, was 1-d, column names or None)``.

    Raises:
        ValueError: naming ``name`` for a wrong length, a non-numeric or non-finite value.
    """
    if y is None:
        raise ValueError(f"{name}: {who} requires y to be passed, but the target y is None; pass the targets "
                         "(GenZ discovers features that predict them)")
    _check_index(y, index, name)
    names = None
    if is_pandas(y, "DataFrame"):
        names = [str(c) for c in y.columns]
    elif is_pandas(y, "Series") and y.name is not None:
        names = [str(y.name)]
    try:
        yy = np.array(y, dtype=np.float64)  # a copy: pandas hands out read-only views
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: targets must be numbers ({exc}); encode them as floats") from None
    one_d = yy.ndim == 1
    if one_d:
        yy = yy[:, None]
    if yy.ndim != 2 or yy.shape[0] != n:
        raise ValueError(f"{name}: expected [N] or [N, D] with N = {n} (one row per item), got shape {yy.shape}")
    if not np.isfinite(yy).all():
        raise ValueError(f"{name}: non-finite value at item {int(np.argwhere(~np.isfinite(yy))[0][0])}; "
                         "drop or impute it")
    return yy, one_d, names


def read_covariates(u: Any, n: int, *, index: Any = None, name: str = "covariates") -> np.ndarray:
    """Covariates ``[N, C]`` as floats.

    Raises:
        ValueError: naming ``name`` for a wrong shape or a non-finite value.
    """
    _check_index(u, index, name)
    try:
        arr = np.array(u, dtype=np.float64)  # a copy: pandas hands out read-only views
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: must be numeric ({exc}); encode text as item fields instead") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"{name}: expected shape [N, C] with N = {n} rows (one per item), got {arr.shape}")
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name}: non-finite value at item {r}, column {c}; impute or drop it")
    return arr
