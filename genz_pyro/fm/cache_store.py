"""The SQLite file under the judgment cache: connections, schema, retries, and what a fault costs.

:class:`SqliteStore` opens one connection per process (WAL mode, a busy timeout), creates
its subclass's schema, runs writes as short ``BEGIN IMMEDIATE`` transactions retried with
jittered backoff on ``SQLITE_BUSY``, and names the cause of a failure:

* a file or directory that cannot be written (permissions, a read-only file system):
  ``ValueError`` saying so and to keep the file (it holds paid answers);
* a full disk or a file-size limit (``SQLITE_FULL``, ``SQLITE_IOERR``): ``OSError``
  (``ENOSPC``), which stops a run instead of paying for answers it cannot keep;
* a damaged file (``database disk image is malformed``): a read or write that hits the
  damage is counted (:attr:`SqliteStore.damage`) and treated as a miss; the first one is
  logged once, with what it costs and the fix, and :meth:`SqliteStore.damage_report`
  sums them up (``genz fit`` prints it at the end), instead of one warning per lookup.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

__all__ = ["SqliteStore", "CACHE_ENV", "resolve_path"]

logger = logging.getLogger("genz_pyro.fm.cache")

CACHE_ENV = "GENZ_CACHE"
_BUSY_TIMEOUT_S = 30.0
_WRITE_ATTEMPTS = 12


def resolve_path(path: str | os.PathLike[str] | None, owner: str = "JudgmentCache") -> str:
    """The absolute path of a cache file (``path`` or ``$GENZ_CACHE``), or ``":memory:"``.

    Raises:
        ValueError: no location given, or its directory does not exist.
    """
    if path is None:
        env = os.environ.get(CACHE_ENV)
        if not env:
            raise ValueError(
                f"{owner}: no location given; pass path=... or set the {CACHE_ENV} environment "
                "variable (use ':memory:' for a throwaway cache)"
            )
        path = env
    p = os.fspath(path)
    if p == ":memory:":
        return p
    parent = Path(p).expanduser().resolve().parent
    if not parent.is_dir():
        raise ValueError(f"{owner}: path {p!r}: directory {str(parent)!r} does not exist; create it first")
    return str(Path(p).expanduser().resolve())


def _is_full(exc: sqlite3.DatabaseError) -> bool:
    """SQLITE_FULL or SQLITE_IOERR: a full disk or a file-size limit (``EFBIG``)."""
    msg = str(exc).lower()
    return "disk is full" in msg or "disk i/o error" in msg


def _full_error(path: str, exc: sqlite3.DatabaseError) -> OSError:
    return OSError(errno.ENOSPC, f"{exc}: a full disk or a file-size limit", path)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class SqliteStore:
    """One SQLite file shared by threads and processes (see the module docstring).

    Subclasses set :attr:`SCHEMA` (``CREATE ... IF NOT EXISTS`` statements) and
    :attr:`SCHEMA_VERSION` (kept in a ``meta`` table).

    Args:
        path: database file, or ``":memory:"``; default: ``$GENZ_CACHE``.
        timeout: seconds a connection waits on a lock held by another process.
    """

    SCHEMA: tuple[str, ...] = ()
    SCHEMA_VERSION = "1"

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = _BUSY_TIMEOUT_S) -> None:
        self.path = resolve_path(path, type(self).__name__)
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self.damage: Counter[str] = Counter()  # reads / writes / entries that hit a damaged file
        self._damage_cause = ""
        self._connect()

    # ------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ValueError(f"{type(self).__name__}: cannot open {self.path!r} ({exc}); check the path") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            self._retry(lambda: self._init_schema(conn))
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._open_error(exc) from exc
        self._conn = conn
        self._pid = os.getpid()
        return conn

    def _writable(self) -> bool:
        """Whether the file (if it exists) and its directory can be written (``access(2)``:
        also False on a read-only file system, for root too)."""
        p = Path(self.path)
        return os.access(p.parent, os.W_OK) and (not p.exists() or os.access(p, os.W_OK))

    def _open_error(self, exc: sqlite3.DatabaseError) -> Exception:
        """The error to raise for a database that cannot be opened: the cause named, and the
        advice to move the file away (its answers are lost) only for a damaged file."""
        name = type(self).__name__
        if self.path != ":memory:" and not self._writable():
            return ValueError(
                f"{name}: {self.path!r} is not writable ({exc}): the file or its directory is read-only "
                "(permissions or a read-only file system). Fix the permissions; the cache itself is intact: keep "
                "it, it holds every paid answer")
        if _is_full(exc):
            return _full_error(self.path, exc)
        return ValueError(
            f"{name}: {self.path!r} is not a readable genz cache ({exc}); move it away or pass another path "
            "(a new cache starts empty: the answers it held are asked, and with a paid model paid, again)")

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() not in ("wal", "memory"):
            raise sqlite3.OperationalError(f"database is locked (journal_mode stayed {mode})")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT)")
            for stmt in self.SCHEMA:
                conn.execute(stmt)
            conn.execute("INSERT OR IGNORE INTO meta(name, value) VALUES ('schema', ?)", (self.SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _retry(self, fn: Any) -> Any:
        delay = 0.01
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == _WRITE_ATTEMPTS - 1:
                    raise
                logger.debug("cache busy (%s); retry %d", exc, attempt + 1)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Run ``executemany`` statements in one short IMMEDIATE transaction, retrying on busy.

        Raises:
            OSError: a full disk or a file-size limit (stops the caller: a run would lose
                every answer paid from then on).
            sqlite3.DatabaseError: any other failure (a damaged file, ...).
        """

        def txn() -> None:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        with self._lock:
            try:
                self._retry(txn)
            except sqlite3.OperationalError as exc:
                if _is_full(exc):
                    raise _full_error(self.path, exc) from exc
                raise

    # ------------------------------------------------------------ damage
    def note_damage(self, kind: str, exc: BaseException | str) -> None:
        """Count a read (``"reads"``), write (``"writes"``) or entry (``"entries"``) that hit
        damage; the first one is logged, once, with its cost and the fix."""
        first = not self.damage
        self.damage[kind] += 1
        if first:
            self._damage_cause = str(exc)
            logger.warning(
                "cache %s is damaged (%s): the answers it cannot read or keep are asked again, and with a paid model "
                "paid again; a count follows at the end of the run. Fix: move the file away (a recorded step needs "
                "none of its answers: the run directory's history and checkpoint hold them)", self.path, exc)

    def damage_report(self) -> str | None:
        """One line saying what the damage cost so far, with the fix; ``None`` when none."""
        if not self.damage:
            return None
        parts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.damage.items()))
        return (f"the cache {self.path} is damaged ({self._damage_cause}): {parts} failed, and those answers were "
                "asked again (with a paid model each is paid again) and not kept. Fix: move the file away (e.g. "
                f"mv {self.path} {self.path}.damaged); the next run starts a new cache, and a --resume repeats "
                "no recorded step")

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` result (``"ok"`` when the file is sound, else the
        problems found)."""
        with self._lock:
            try:
                return "\n".join(str(r[0]) for r in self._connect().execute("PRAGMA integrity_check"))
            except sqlite3.DatabaseError as exc:
                return f"unreadable: {exc}"

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close this process's connection (the store reopens on next use; a ``":memory:"``
        store is gone)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> "SqliteStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        if self.path == ":memory:":
            raise TypeError(f"{type(self).__name__}(':memory:') cannot be sent to another process; use a file path")
        return {"path": self.path, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], timeout=state["timeout"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"
