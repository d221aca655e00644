"""A persistent, content-addressed cache of foundation-model answers (SQLite, WAL).

Every answer a foundation model gives is stored under a key made of sha256
digests of everything that could change it:

* the *context*: the canonical JSON (sorted keys, no whitespace) of
  ``{"identity": ..., "operation": ..., "request": ...}`` where ``identity`` is the
  model's :meth:`cache_identity` (provider, model, prompt version(s), decoding
  parameters such as temperature, max_tokens, shape and batch size), ``operation``
  is ``"judge"``, ``"mine"`` or ``"propose"`` and ``request`` is the description
  (judge) or the exemplar set and avoid list (mine) or task, examples and n
  (propose);
* for a judgment, the sha256 of the item's content (:func:`item_hash`, the text
  the model sees) completes the key: ``key = (context_digest, item_hash)``, so
  the judgments of one description are one contiguous range of the table.

So a changed prompt version, model, temperature or description is a miss, while
the same item under another id is a hit. The cache stores the parsed judgment
(value, probability), the raw answer text of the call that produced it and that
call's usage. Credentials are never stored: :func:`check_identity` refuses any
identity with a key-like field (``api_key``, ``authorization``, ...) or a value
equal to a secret found in the environment.

Several processes may write at once: the database is in WAL mode, every
connection has a busy timeout, writes are short ``BEGIN IMMEDIATE`` transactions
retried with jittered backoff on ``SQLITE_BUSY``. A corrupt or unreadable entry
is treated as a miss and counted (:attr:`~genz_pyro.fm.cache_store.SqliteStore.damage`;
logged once, logger ``genz_pyro.fm.cache``). The store, its errors and its faults:
:mod:`genz_pyro.fm.cache_store`; export and import: :mod:`genz_pyro.fm.cache_export`.

The location comes from the ``path`` argument or the ``GENZ_CACHE`` environment
variable; there is no hidden default. ``":memory:"`` gives a private in-memory
cache (one process).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from genz_pyro.fm.cache_export import EXPORT_FORMAT, export_cache, import_cache
from genz_pyro.fm.cache_store import _BUSY_TIMEOUT_S, CACHE_ENV, SqliteStore, logger
from genz_pyro.fm.keys import canonical_json, check_identity, item_hash
from genz_pyro.fm.protocol import Item, Judgment, Usage, render_item

__all__ = [
    "CACHE_ENV",
    "EXPORT_FORMAT",
    "JudgmentCache",
    "StoredCall",
    "canonical_json",
    "check_identity",
    "item_hash",
]

_CHUNK = 900  # keys per SELECT ... IN (...) statement
_SCAN_MIN = 2000  # from this many keys on, scan the whole context instead
_OPERATION = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MEMO_MAX = 1_000_000  # memoised str item hashes
_SELECT = "SELECT item, value, probability FROM judgments"
# a well-formed judgment row; anything else is a corrupt entry (logged, a miss)
_VALID = (
    "(typeof(value) = 'integer' AND value IN (0, 1) AND (probability IS NULL OR "
    "(typeof(probability) = 'real' AND probability BETWEEN 0.0 AND 1.0)))"
)
_SCHEMA = (
    # one row per context (identity x operation x request), for inspection only
    "CREATE TABLE IF NOT EXISTS contexts(key BLOB PRIMARY KEY, operation TEXT, body TEXT) WITHOUT ROWID",
    # one row per provider call: raw answer text and usage
    "CREATE TABLE IF NOT EXISTS calls(id BLOB PRIMARY KEY, raw TEXT, usage TEXT) WITHOUT ROWID",
    # one row per (context, item): the parsed judgment
    "CREATE TABLE IF NOT EXISTS judgments(ctx BLOB, item BLOB, value INTEGER, probability REAL, call BLOB,"
    " PRIMARY KEY(ctx, item)) WITHOUT ROWID",
    # one row per mine / propose request: the parsed answer as JSON
    "CREATE TABLE IF NOT EXISTS answers(key BLOB PRIMARY KEY, payload TEXT, call BLOB) WITHOUT ROWID",
    # one row per provider call sent by a backend with a journal (genz_pyro.fm.journal)
    "CREATE TABLE IF NOT EXISTS sent(id BLOB PRIMARY KEY, started REAL, template TEXT, state TEXT, usage TEXT,"
    " estimate TEXT) WITHOUT ROWID",
)


def _usage_json(usage: Usage | None) -> str | None:
    if usage is None:
        return None
    return canonical_json(
        {
            "calls": usage.calls,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": usage.cost_usd,
        }
    )


def _usage_from_json(text: Any) -> Usage | None:
    """The :class:`Usage` stored by :func:`_usage_json`, or ``None`` (absent or unreadable)."""
    if text is None:
        return None
    try:
        d = json.loads(text)
        return Usage(int(d["calls"]), int(d["input_tokens"]), int(d["output_tokens"]), float(d["cost_usd"]))
    except (TypeError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class StoredCall:
    """The provider call stored with a cached answer: its raw answer text and its usage
    (either may be ``None`` when the writer did not know it, e.g. the offline model)."""

    raw: str | None
    usage: Usage | None



class JudgmentCache(SqliteStore):
    """SQLite-backed cache of judgments and of mine/propose answers.

    Args:
        path: database file, or ``":memory:"``; default: ``$GENZ_CACHE``.
        timeout: seconds a connection waits on a lock held by another process.

    Safe to share between threads of one process and between processes (each
    opens its own connection; the object pickles as its path, so it can be sent
    to ``multiprocessing`` workers). Connections, retries and the handling of a
    read-only, full or damaged file: :class:`~genz_pyro.fm.cache_store.SqliteStore`.
    """

    SCHEMA = _SCHEMA
    SCHEMA_VERSION = "1"

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = _BUSY_TIMEOUT_S) -> None:
        self._memo: dict[str, bytes] = {}
        super().__init__(path, timeout=timeout)

    # ------------------------------------------------------------------- keys
    @staticmethod
    def context(identity: Mapping[str, Any], operation: str, request: Any) -> tuple[bytes, str]:
        """The context digest (32 bytes) and its canonical JSON body.

        Args:
            identity: the model's cache identity (checked by :func:`check_identity`).
            operation: ``"judge"``, ``"mine"``, ``"propose"``, or another lower-case name
                for other cached answers (e.g. ``"describe_image"``); part of the key.
            request: the description (judge) or a JSON-serialisable request (the others).
        """
        if not isinstance(operation, str) or not _OPERATION.fullmatch(operation):
            raise ValueError(
                f"operation: expected a lower-case name such as 'judge', 'mine', 'propose' or "
                f"'describe_image', got {operation!r}"
            )
        check_identity(identity)
        try:
            body = canonical_json({"identity": identity, "operation": operation, "request": request})
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"identity/request: not JSON-serialisable ({exc}); use str, numbers, bools, lists and dicts"
            ) from exc
        return hashlib.sha256(body.encode("utf-8")).digest(), body

    def item_hashes(self, items: Mapping[str, Item]) -> list[bytes]:
        """``[item_hash(item) for item in items.values()]`` (32 bytes each).

        Hashes of ``str`` items are memoised (strings are immutable; the discovery loop
        judges the same items for every feature).
        """
        sha = hashlib.sha256
        memo = self._memo
        if len(memo) > _MEMO_MAX:
            memo.clear()
        out = []
        for it in items.values():
            if type(it) is str:
                h = memo.get(it)  # type: ignore[arg-type]
                if h is None:
                    h = memo[it] = sha(it.encode("utf-8")).digest()  # type: ignore[union-attr, index]
            else:
                h = sha(render_item(it).encode("utf-8")).digest()
            out.append(h)
        return out

    # --------------------------------------------------------- raw judgments
    def get_many(self, ctx: bytes, item_hashes: Sequence[bytes]) -> dict[bytes, tuple[bool, float | None]]:
        """Look up the judgments of one context (see :meth:`context`) on many items.

        Args:
            ctx: the 32-byte context digest.
            item_hashes: item content hashes (:func:`item_hash`).

        Returns:
            ``{item_hash: (value, probability)}`` for the hits. A corrupt entry (a value
            that is not 0/1, a probability outside [0, 1]) is logged and left out (a
            miss); an unreadable database is logged and gives no hits.
        """
        if not item_hashes:
            return {}
        with self._lock:
            try:
                conn = self._connect()
                if len(item_hashes) >= _SCAN_MIN:
                    # one range scan of the context (the primary key is (ctx, item))
                    wanted = set(item_hashes)
                    rows = conn.execute(_SELECT + " WHERE ctx = ? AND " + _VALID, (ctx,)).fetchall()
                    out = {item: (value == 1, prob) for item, value, prob in rows if item in wanted}
                    bad = [r for r in conn.execute(_SELECT + " WHERE ctx = ? AND NOT " + _VALID, (ctx,))
                           if r[0] in wanted]
                else:
                    out, bad = {}, []
                    for start in range(0, len(item_hashes), _CHUNK):
                        chunk = [ctx, *item_hashes[start : start + _CHUNK]]
                        where = " WHERE ctx = ? AND item IN (" + ",".join("?" * (len(chunk) - 1)) + ") AND "
                        for item, value, prob in conn.execute(_SELECT + where + _VALID, chunk):
                            out[item] = (value == 1, prob)
                        bad.extend(conn.execute(_SELECT + where + "NOT " + _VALID, chunk))
            except sqlite3.DatabaseError as exc:
                self.note_damage("reads", exc)  # logged once; a miss
                return {}
        for item, value, prob in bad:
            what = (f"corrupt judgment entry for item {item.hex()[:16] if isinstance(item, bytes) else repr(item)} "
                    f"(value={value!r}, probability={prob!r})")
            logger.debug("cache %s: %s; treated as a miss", self.path, what)
            self.note_damage("entries", what)
        return out

    def put_many(
        self,
        ctx: bytes,
        entries: Iterable[tuple[bytes, bool, float | None]],
        *,
        raw: str | None = None,
        usage: Usage | None = None,
        body: str | None = None,
    ) -> int:
        """Store judgments ``(item_hash, value, probability)`` of one context from one call.

        Args:
            ctx: the context digest from :meth:`context`.
            entries: the judgments; an existing entry is overwritten (repairs a corrupt one).
            raw: the raw answer text of the call, stored once and referenced by every entry.
            usage: that call's usage.
            body: the context's canonical JSON from :meth:`context`, stored for inspection.

        Returns:
            the number of judgments written.
        """
        return self.put_calls(ctx, [(raw, usage, entries)], body=body)

    def put_calls(
        self,
        ctx: bytes,
        calls: Iterable[tuple[str | None, Usage | None, Iterable[tuple[bytes, bool, float | None]]]],
        *,
        body: str | None = None,
    ) -> int:
        """Store the judgments of several calls of one context in one transaction.

        Args:
            ctx: the context digest from :meth:`context`.
            calls: ``(raw answer text, usage, entries)`` per provider call; ``entries`` are
                the ``(item_hash, value, probability)`` that call answered (may be empty: a
                discarded malformed answer is kept for its raw text and usage).
            body: the context's canonical JSON from :meth:`context`, stored for inspection.

        Returns:
            the number of judgments written.
        """
        rows: list[tuple[Any, ...]] = []
        call_rows: list[tuple[Any, ...]] = []
        for raw, usage, entries in calls:
            call_id = self._call_id(raw, usage)
            if call_id is not None:
                call_rows.append((call_id, raw, _usage_json(usage)))
            for item, value, prob in entries:
                if prob is not None and not (0.0 <= float(prob) <= 1.0):
                    raise ValueError(
                        f"put_calls: probability {prob!r} for item {item.hex()[:16]} is outside [0, 1]"
                    )
                rows.append((ctx, item, 1 if value else 0, None if prob is None else float(prob), call_id))
        statements: list[tuple[str, Sequence[Sequence[Any]]]] = []
        if call_rows:
            statements.append(("INSERT OR IGNORE INTO calls(id, raw, usage) VALUES (?, ?, ?)", call_rows))
        if body is not None:
            statements.append(("INSERT OR IGNORE INTO contexts(key, operation, body) VALUES (?, 'judge', ?)",
                               [(ctx, body)]))
        statements.append(
            ("INSERT OR REPLACE INTO judgments(ctx, item, value, probability, call) VALUES (?, ?, ?, ?, ?)", rows)
        )
        self._write(statements)
        return len(rows)

    @staticmethod
    def _call_id(raw: str | None, usage: Usage | None) -> bytes | None:
        if raw is None and usage is None:
            return None
        return os.urandom(16)

    # --------------------------------------------------- judgments by item
    def get_judgments(
        self, identity: Mapping[str, Any], description: str, items: Mapping[str, Item]
    ) -> dict[str, Judgment]:
        """The cached judgments of ``description`` on ``items`` (hits only), keyed by item id
        in ``items`` order."""
        ctx, _ = self.context(identity, "judge", description)
        hashes = self.item_hashes(items)
        hits = self.get_many(ctx, hashes)
        out: dict[str, Judgment] = {}
        for item_id, h in zip(items, hashes):
            hit = hits.get(h)
            if hit is not None:
                out[item_id] = Judgment(item_id, hit[0], hit[1])
        return out

    def put_judgments(
        self,
        identity: Mapping[str, Any],
        description: str,
        items: Mapping[str, Item],
        judgments: Mapping[str, Judgment],
        *,
        raw: str | None = None,
        usage: Usage | None = None,
    ) -> int:
        """Store ``judgments`` (keyed by item id; ids absent from ``judgments`` are skipped)."""
        ctx, body = self.context(identity, "judge", description)
        entries = []
        for (item_id, it) in items.items():
            j = judgments.get(item_id)
            if j is not None:
                entries.append((item_hash(it), j.value, j.probability))
        return self.put_many(ctx, entries, raw=raw, usage=usage, body=body)

    # -------------------------------------------------- mine / propose answers
    def get_answer(self, identity: Mapping[str, Any], operation: str, request: Any) -> Any | None:
        """The cached answer (parsed JSON) of a mine/propose request, or ``None``."""
        ctx, _ = self.context(identity, operation, request)
        with self._lock:
            try:
                row = self._connect().execute("SELECT payload FROM answers WHERE key = ?", (ctx,)).fetchone()
            except sqlite3.DatabaseError as exc:
                self.note_damage("reads", exc)  # logged once; a miss
                return None
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except (TypeError, ValueError) as exc:
            self.note_damage("entries", f"corrupt {operation} answer {ctx.hex()[:16]} ({exc})")
            return None

    def put_answer(
        self,
        identity: Mapping[str, Any],
        operation: str,
        request: Any,
        answer: Any,
        *,
        raw: str | None = None,
        usage: Usage | None = None,
        discarded: Iterable[tuple[str | None, Usage | None]] = (),
    ) -> None:
        """Store the parsed answer (JSON-serialisable) of a mine/propose request.

        Args:
            raw, usage: the raw answer text and usage of the call that gave ``answer``.
            discarded: ``(raw, usage)`` of calls whose answers were malformed and re-sent
                (kept so that the stored usage adds up to what was paid).
        """
        ctx, body = self.context(identity, operation, request)
        call_id = self._call_id(raw, usage)
        extra = [(self._call_id(r, u), r, _usage_json(u)) for r, u in discarded]
        extra = [row for row in extra if row[0] is not None]
        statements: list[tuple[str, Sequence[Sequence[Any]]]] = [
            ("INSERT OR IGNORE INTO contexts(key, operation, body) VALUES (?, ?, ?)", [(ctx, operation, body)]),
            ("INSERT OR REPLACE INTO answers(key, payload, call) VALUES (?, ?, ?)", [(ctx, canonical_json(answer),
                                                                                    call_id)]),
        ]
        if call_id is not None:
            extra.append((call_id, raw, _usage_json(usage)))
        if extra:
            statements.append(("INSERT OR IGNORE INTO calls(id, raw, usage) VALUES (?, ?, ?)", extra))
        self._write(statements)

    # ------------------------------------------------------- stored calls
    def _stored(self, conn: sqlite3.Connection, call_id: Any) -> StoredCall | None:
        if call_id is None:
            return None
        row = conn.execute("SELECT raw, usage FROM calls WHERE id = ?", (call_id,)).fetchone()
        if row is None:
            return None
        return StoredCall(row[0] if isinstance(row[0], str) else None, _usage_from_json(row[1]))

    def judgment_calls(
        self, identity: Mapping[str, Any], description: str, items: Mapping[str, Item]
    ) -> dict[str, StoredCall]:
        """The stored call (raw answer text and usage) behind each cached judgment of
        ``description`` on ``items``, keyed by item id (ids without one are left out)."""
        ctx, _ = self.context(identity, "judge", description)
        out: dict[str, StoredCall] = {}
        with self._lock:
            conn = self._connect()
            for item_id, h in zip(items, self.item_hashes(items)):
                row = conn.execute("SELECT call FROM judgments WHERE ctx = ? AND item = ?", (ctx, h)).fetchone()
                call = self._stored(conn, row[0]) if row is not None else None
                if call is not None:
                    out[item_id] = call
        return out

    def answer_call(self, identity: Mapping[str, Any], operation: str, request: Any) -> StoredCall | None:
        """The stored call (raw answer text and usage) behind a cached mine/propose answer."""
        ctx, _ = self.context(identity, operation, request)
        with self._lock:
            conn = self._connect()
            row = conn.execute("SELECT call FROM answers WHERE key = ?", (ctx,)).fetchone()
            return self._stored(conn, row[0]) if row is not None else None

    def total_usage(self) -> Usage:
        """The summed usage of every stored call (what the cached answers cost)."""
        total = Usage()
        with self._lock:
            for (text,) in self._connect().execute("SELECT usage FROM calls"):
                u = _usage_from_json(text)
                if u is not None:
                    total.add(u)
        return total

    # --------------------------------------------------------------- inspect
    def counts(self) -> dict[str, int]:
        """Row counts: ``{"judgments", "answers", "calls", "contexts"}``."""
        with self._lock:
            conn = self._connect()
            return {
                t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("judgments", "answers", "calls", "contexts")
            }

    def __len__(self) -> int:
        c = self.counts()
        return c["judgments"] + c["answers"]


    # -------------------------------------------------------- export / import
    def export(self, path: str | os.PathLike[str]) -> int:
        """Write every entry to a portable JSON-lines file (gzip when ``path`` ends in ``.gz``);
        see :func:`genz_pyro.fm.cache_export.export_cache`. Returns the number of records."""
        return export_cache(self, path)

    def import_(self, path: str | os.PathLike[str]) -> int:
        """Merge an :meth:`export` file into this cache (existing entries are kept); see
        :func:`genz_pyro.fm.cache_export.import_cache`. Returns the number of records imported."""
        return import_cache(self, path)
