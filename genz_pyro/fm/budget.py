"""A spending cap on provider calls, tokens and dollars, checked *before* each call.

Usage by a backend::

    r = budget.reserve(calls=1, input_tokens=est_in, output_tokens=max_tokens, cost_usd=est_cost)
    try:
        answer, usage = await send(...)
    except BaseException:
        budget.settle(r, Usage(calls=1))   # or budget.release(r) when nothing was sent
        raise
    budget.settle(r, usage)

:meth:`Budget.reserve` raises :class:`~genz_pyro.fm.errors.BudgetExceededError`
when ``spent + outstanding reservations + this request`` would pass a cap, so the
call is never sent. Reservations count against the cap until settled, which makes
the check safe under concurrency (asyncio tasks or threads): sixteen concurrent
calls cannot all pass a check that only one of them fits. Reserve the output token
*maximum* (``max_tokens``) so that settled usage cannot exceed the reservation.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from genz_pyro.fm.errors import BudgetExceededError
from genz_pyro.fm.protocol import Usage

__all__ = ["Budget", "Reservation"]


@dataclass(frozen=True)
class Reservation:
    """An outstanding claim on a :class:`Budget` (returned by :meth:`Budget.reserve`)."""

    id: int
    calls: int
    tokens: int
    cost_usd: float


class Budget:
    """Caps on provider calls, total tokens (input + output) and cost in US dollars.

    Args:
        max_calls: most provider calls (``None``: no cap).
        max_tokens: most input + output tokens (``None``: no cap).
        max_cost_usd: most dollars (``None``: no cap).

    Attributes:
        spent: the settled :class:`~genz_pyro.fm.protocol.Usage`.
    """

    def __init__(
        self, max_calls: int | None = None, max_tokens: int | None = None, max_cost_usd: float | None = None
    ) -> None:
        for name, cap in (("max_calls", max_calls), ("max_tokens", max_tokens), ("max_cost_usd", max_cost_usd)):
            if cap is not None and (isinstance(cap, bool) or not cap >= 0):
                raise ValueError(f"Budget: {name} must be a non-negative number or None, got {cap!r}")
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.spent = Usage()
        self._pending: dict[int, Reservation] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- totals
    def _outstanding(self) -> tuple[int, int, float]:
        calls = sum(r.calls for r in self._pending.values())
        tokens = sum(r.tokens for r in self._pending.values())
        cost = sum(r.cost_usd for r in self._pending.values())
        return calls, tokens, cost

    @property
    def remaining(self) -> dict[str, float | None]:
        """What is left under each cap after settled usage and outstanding reservations
        (``None`` for an uncapped quantity)."""
        with self._lock:
            calls, tokens, cost = self._outstanding()
            s = self.spent
            return {
                "calls": None if self.max_calls is None else self.max_calls - s.calls - calls,
                "tokens": None
                if self.max_tokens is None
                else self.max_tokens - s.input_tokens - s.output_tokens - tokens,
                "cost_usd": None if self.max_cost_usd is None else self.max_cost_usd - s.cost_usd - cost,
            }

    @property
    def outstanding(self) -> int:
        """Number of reservations not yet settled."""
        with self._lock:
            return len(self._pending)

    # -------------------------------------------------------------- reserve
    def reserve(
        self, *, calls: int = 1, input_tokens: int = 0, output_tokens: int = 0, cost_usd: float = 0.0
    ) -> Reservation:
        """Claim room for a call before making it.

        Raises:
            BudgetExceededError: when settled usage plus outstanding reservations plus
                this request would exceed a cap (nothing is reserved then).
            ValueError: for a negative amount.
        """
        for name, v in (("calls", calls), ("input_tokens", input_tokens), ("output_tokens", output_tokens),
                        ("cost_usd", cost_usd)):
            if v < 0:
                raise ValueError(f"Budget.reserve: {name} must be >= 0, got {v!r}")
        tokens = int(input_tokens) + int(output_tokens)
        with self._lock:
            p_calls, p_tokens, p_cost = self._outstanding()
            s = self.spent
            checks = (
                ("calls", self.max_calls, s.calls + p_calls, calls),
                ("tokens", self.max_tokens, s.input_tokens + s.output_tokens + p_tokens, tokens),
                ("cost_usd", self.max_cost_usd, s.cost_usd + p_cost, float(cost_usd)),
            )
            for what, cap, used, want in checks:
                if cap is not None and used + want > cap + (1e-12 if what == "cost_usd" else 0):
                    raise BudgetExceededError(
                        f"budget: the next call needs {want:g} {what} but only {cap - used:g} of the cap "
                        f"{cap:g} is left (spent or reserved: {used:g}); the call was not sent. Raise "
                        f"the cap (Budget(max_{what}=...)) or resume later: "
                        "cached answers are free"
                    )
            r = Reservation(next(self._ids), int(calls), tokens, float(cost_usd))
            self._pending[r.id] = r
            return r

    def settle(self, reservation: Reservation, usage: Usage) -> None:
        """Replace ``reservation`` by the call's actual ``usage``.

        Raises:
            ValueError: when the reservation is unknown or already settled.
        """
        with self._lock:
            if self._pending.pop(reservation.id, None) is None:
                raise ValueError(f"Budget.settle: reservation {reservation.id} is unknown or already settled")
            self.spent.add(Usage(usage.calls, usage.input_tokens, usage.output_tokens, usage.cost_usd))

    def release(self, reservation: Reservation) -> None:
        """Drop ``reservation`` without spending (the call was never sent)."""
        self.settle(reservation, Usage())

    def __repr__(self) -> str:
        return (
            f"Budget(max_calls={self.max_calls}, max_tokens={self.max_tokens}, "
            f"max_cost_usd={self.max_cost_usd}, spent={self.spent})"
        )
