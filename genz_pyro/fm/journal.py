"""A durable journal of the provider calls a run sends, so that every paid call is counted.

An SDK backend with a ``journal`` (:attr:`genz_pyro.fm.llm.LLMBackend.journal`) writes one
row before it sends a call and marks it when the call ends: ``answered`` (with its usage as
billed) or ``failed`` (an error response: nothing billed). A row still ``sent`` belongs to a
call that was in flight when its process died (``kill -9``, power loss) or was interrupted:
the provider received it and most likely billed it, but its answer never arrived, so the
cache has no trace of it. :meth:`CallJournal.totals` counts these as paid, with the
estimated tokens and cost of the call, and ``genz fit``'s summary reports them.

The journal is the ``sent`` table of the run's cache database (:mod:`genz_pyro.fm.cache`;
one file to keep, one short transaction per row of a few dozen bytes).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from genz_pyro.fm.cache import JudgmentCache
from genz_pyro.fm.protocol import Usage

__all__ = ["CallJournal", "JournalTotals"]


@dataclass(frozen=True)
class JournalTotals:
    """What a run's provider calls cost, over every process that worked on it.

    Attributes:
        answered: the calls whose answer arrived, with their usage as billed.
        in_flight: calls sent but never answered (their process died or was interrupted):
            most likely billed; ``in_flight.input_tokens`` etc. are the calls' estimates.
        failed: calls that ended in an error response (not billed).
    """

    answered: Usage
    in_flight: Usage
    failed: int

    @property
    def paid(self) -> Usage:
        """Answered plus in flight: what the provider most likely billed."""
        total = self.answered.copy()
        total.add(self.in_flight)
        return total


class CallJournal:
    """The journal of provider calls in ``cache``'s database (see the module docstring)."""

    def __init__(self, cache: JudgmentCache) -> None:
        self.cache = cache

    def begin(self, template: str, input_tokens: int, output_tokens: int, cost_usd: float) -> bytes:
        """Record a call about to be sent (with its estimated size); returns its token."""
        token = os.urandom(16)
        estimate = json.dumps({"input_tokens": input_tokens, "output_tokens": output_tokens, "cost_usd": cost_usd})
        self.cache._write([("INSERT INTO sent(id, started, template, state, usage, estimate) "
                            "VALUES (?, ?, ?, 'sent', NULL, ?)", [(token, time.time(), template, estimate)])])
        return token

    def end(self, token: bytes, usage: Usage | None) -> None:
        """Mark the call answered (``usage`` as billed) or failed (``usage=None``)."""
        if usage is None:
            self.cache._write([("UPDATE sent SET state = 'failed' WHERE id = ?", [(token,)])])
            return
        text = json.dumps({"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                           "cost_usd": usage.cost_usd})
        self.cache._write([("UPDATE sent SET state = 'answered', usage = ? WHERE id = ?", [(text, token)])])

    def totals(self) -> JournalTotals:
        """The answered, in-flight and failed calls recorded so far."""
        answered, in_flight, failed = Usage(), Usage(), 0
        with self.cache._lock:
            rows = self.cache._connect().execute("SELECT state, usage, estimate FROM sent").fetchall()
        for state, usage, estimate in rows:
            if state == "failed":
                failed += 1
                continue
            d: dict[str, Any] = json.loads(usage if state == "answered" else estimate)
            u = Usage(1, int(d["input_tokens"]), int(d["output_tokens"]), float(d["cost_usd"]))
            (answered if state == "answered" else in_flight).add(u)
        return JournalTotals(answered, in_flight, failed)
