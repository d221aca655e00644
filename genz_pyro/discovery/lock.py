"""One writer per run directory: an exclusive lock held while a process writes a run.

:class:`RunLock` takes an advisory ``flock(LOCK_EX | LOCK_NB)`` on ``run_dir/run.lock`` and
writes the holder's pid, host, start time and command line into the file. A second
process is refused at once with :class:`RunDirBusyError`, whose message names the holder.
The kernel releases a ``flock`` when the holder's last descriptor closes, however the
process ends (``kill -9`` and power loss included), so a lock file left behind never blocks a
``--resume``: only a live holder does, and the pid written in the file is only read to
name it. (The ``filelock`` package's Unix lock is the same ``flock``; it does not report
the holder, so this module calls ``fcntl`` directly.)

Within one process the lock is re-entrant (counted per directory): ``genz fit`` holds it
for the whole command and the :class:`~genz_pyro.discovery.Discovery` objects it opens
take it again. Platforms without ``fcntl`` (Windows) get no lock.

``flock`` locks are per machine: two hosts writing one run directory on a network file
system are not excluded (NFS may emulate ``flock`` with byte-range locks; other file
systems may not).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "RunDirBusyError", "RunDirNotWritableError", "LOCK_NAME", "describe_os_error"]

LOCK_NAME = "run.lock"

_HELD: dict[str, list[Any]] = {}  # real path of the lock file -> [fd, count]
_GUARD = threading.Lock()


class RunDirBusyError(ValueError):
    """Another live process holds the run directory's lock.

    Attributes:
        holder: what the holder wrote into the lock file (``pid``, ``host``, ``started``,
            ``argv``), ``{}`` when unreadable.
    """

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


class RunDirNotWritableError(ValueError):
    """The run directory cannot be written (permissions, a read-only file system)."""


def describe_os_error(exc: OSError) -> str:
    """``"Permission denied"``, ``"No space left on device"``, ... with the file name."""
    what = exc.strerror or str(exc)
    return f"{what}: {exc.filename}" if exc.filename else what


def _holder_text(info: dict[str, Any]) -> str:
    if not info:
        return "another process (its pid could not be read)"
    parts = [f"pid {info.get('pid', '?')}"]
    if info.get("host") and info.get("host") != socket.gethostname():
        parts.append(f"on host {info['host']}")
    if info.get("started"):
        parts.append(f"since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(info['started'])))}")
    if info.get("argv"):
        cmd = " ".join(str(a) for a in info["argv"])
        parts.append(f"running `{cmd[:200]}`")
    return ", ".join(parts)


class RunLock:
    """The exclusive lock of ``run_dir`` (created if needed).

    Use as a context manager or call :meth:`acquire` / :meth:`release`; re-entrant within a
    process.

    Raises (from :meth:`acquire`):
        RunDirBusyError: another live process holds it (the message names its pid).
        RunDirNotWritableError: the directory cannot be created or written (the message
            names the cause: permissions, a read-only file system, a full disk).
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._key: str | None = None

    def acquire(self) -> "RunLock":
        if self._key is not None:
            return self
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            key = str(self.path.resolve())
        except OSError as exc:
            raise self._not_writable(exc) from None
        with _GUARD:
            held = _HELD.get(key)
            if held is not None:
                held[1] += 1
                self._key = key
                return self
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise self._not_writable(exc) from None
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError as exc:
                        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                            raise
                        info = self._read_holder(fd)
                        raise RunDirBusyError(
                            f"run_dir: {self.run_dir} is in use by {_holder_text(info)}; one process writes a run "
                            "at a time: wait for it to finish (or stop it), then continue with --resume, or pick "
                            "another run directory", info) from None
                self._write_holder(fd)
            except BaseException:
                os.close(fd)
                raise
            _HELD[key] = [fd, 1]
            self._key = key
        return self

    def release(self) -> None:
        """Drop this holder's count; the lock is released when the count reaches 0."""
        key, self._key = self._key, None
        if key is None:
            return
        with _GUARD:
            held = _HELD.get(key)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del _HELD[key]
                os.close(held[0])  # closing the descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._key is not None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _not_writable(self, exc: OSError) -> RunDirNotWritableError:
        return RunDirNotWritableError(
            f"run_dir: cannot write the run directory {self.run_dir} ({describe_os_error(exc)}); a run records "
            "every step there: fix its permissions (e.g. chmod -R u+w), free space, or copy it to a writable "
            "place and continue there with --resume (its cache keeps every paid answer)")

    @staticmethod
    def _read_holder(fd: int) -> dict[str, Any]:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            info = json.loads(os.read(fd, 65536).decode("utf-8"))
            return info if isinstance(info, dict) else {}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _write_holder(fd: int) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "argv": list(sys.argv)}
        data = json.dumps(info).encode("utf-8")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError:  # pragma: no cover - a full disk: the lock holds all the same
            pass
