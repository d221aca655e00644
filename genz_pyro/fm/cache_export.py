"""Export a judgment cache to a portable JSON-lines file and merge one back in.

The file starts with a header line ``{"format": "genz-pyro-cache/1"}``; every further line
is one row: a stored call (``"t": "call"``), a context, a judgment or a mine/propose
answer, with binary keys as hex. ``.gz`` paths are gzip-compressed. Importing keeps
existing entries and skips (logging) malformed lines.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from typing import Any, Iterator

from genz_pyro.fm.cache_store import SqliteStore
from genz_pyro.fm.keys import canonical_json

__all__ = ["EXPORT_FORMAT", "export_cache", "import_cache"]

logger = logging.getLogger("genz_pyro.fm.cache")

EXPORT_FORMAT = "genz-pyro-cache/1"


def _rows(cache: SqliteStore) -> Iterator[dict[str, Any]]:
    conn = cache._connect()
    for cid, raw, usage in conn.execute("SELECT id, raw, usage FROM calls"):
        yield {"t": "call", "id": cid.hex(), "raw": raw, "usage": usage}
    for key, op, body in conn.execute("SELECT key, operation, body FROM contexts"):
        yield {"t": "context", "key": key.hex(), "operation": op, "body": body}
    for ctx, item, value, prob, cid in conn.execute("SELECT ctx, item, value, probability, call FROM judgments"):
        yield {"t": "judgment", "ctx": ctx.hex(), "item": item.hex(), "value": value, "probability": prob,
               "call": None if cid is None else cid.hex()}
    for key, payload, cid in conn.execute("SELECT key, payload, call FROM answers"):
        yield {"t": "answer", "key": key.hex(), "payload": payload, "call": None if cid is None else cid.hex()}

def export_cache(cache: SqliteStore, path: str | os.PathLike[str]) -> int:
    """Write every entry of ``cache`` to a portable JSON-lines file (gzip when ``path`` ends in ``.gz``).

    Returns:
        the number of records written (after the header line).
    """
    p = os.fspath(path)
    opener = gzip.open if p.endswith(".gz") else open
    n = 0
    with cache._lock, opener(p, "wt", encoding="utf-8") as fh:  # type: ignore[operator]
        fh.write(canonical_json({"format": EXPORT_FORMAT}) + "\n")
        for rec in _rows(cache):
            fh.write(canonical_json(rec) + "\n")
            n += 1
    return n

def import_cache(cache: SqliteStore, path: str | os.PathLike[str]) -> int:
    """Merge an :func:`export_cache` file into ``cache`` (existing entries are kept).

    Malformed lines are logged and skipped. Returns the number of records imported.

    Raises:
        ValueError: when the file is not a genz-pyro cache export.
    """
    p = os.fspath(path)
    opener = gzip.open if p.endswith(".gz") else open
    calls, contexts, judgments, answers = [], [], [], []
    with opener(p, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        try:
            header = json.loads(fh.readline())
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
            raise ValueError(f"import_: {p!r} is not a {EXPORT_FORMAT} export (bad first line)")
        for lineno, line in enumerate(fh, start=2):
            try:
                r = json.loads(line)
                t = r["t"]
                if t == "call":
                    calls.append((bytes.fromhex(r["id"]), r["raw"], r["usage"]))
                elif t == "context":
                    contexts.append((bytes.fromhex(r["key"]), r["operation"], r["body"]))
                elif t == "judgment":
                    v, pr = r["value"], r["probability"]
                    if v not in (0, 1) or type(v) is not int or not (pr is None or 0 <= pr <= 1):
                        raise ValueError("bad judgment value/probability")
                    cid = None if r["call"] is None else bytes.fromhex(r["call"])
                    judgments.append((bytes.fromhex(r["ctx"]), bytes.fromhex(r["item"]), v, pr, cid))
                elif t == "answer":
                    json.loads(r["payload"])
                    cid = None if r["call"] is None else bytes.fromhex(r["call"])
                    answers.append((bytes.fromhex(r["key"]), r["payload"], cid))
                else:
                    raise ValueError(f"unknown record type {t!r}")
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("import_ %s line %d skipped: %s", p, lineno, exc)
    cache._write(
        [
            ("INSERT OR IGNORE INTO calls(id, raw, usage) VALUES (?, ?, ?)", calls),
            ("INSERT OR IGNORE INTO contexts(key, operation, body) VALUES (?, ?, ?)", contexts),
            (
                "INSERT OR IGNORE INTO judgments(ctx, item, value, probability, call) VALUES (?, ?, ?, ?, ?)",
                judgments,
            ),
            ("INSERT OR IGNORE INTO answers(key, payload, call) VALUES (?, ?, ?)", answers),
        ]
    )
    return len(calls) + len(contexts) + len(judgments) + len(answers)
