"""What one run may spend on a language model, and when it must stop calling one.

- `Usage`: the run's token budget as a hard ceiling. Every call in flight holds a reservation of its input
  estimate plus `max_tokens`; an attempt that failed after the provider may have processed it (a timeout,
  a 5xx) is charged its whole reservation, because it may have been billed; an attempt that never reached the
  provider (connection refused, 429) is released.
- `Breaker`: a circuit breaker. After `threshold` consecutive connection, timeout or 5xx failures it opens,
  and every later call raises LLMUnavailable at once: a server that is down costs seconds, not minutes.

One `Usage` and one `Breaker` belong to one `rag.llm.LLMClient`, and a client to one run. `spent_between`
and `added` do the arithmetic on `Usage.as_dict()` snapshots: what one step of a run spent (the narrative
after the mapping, on the same client), and a run's total from its steps.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from rag.errors import BudgetExceeded, LLMUnavailable


@dataclass
class Usage:
    """What a run has spent. Thread-safe; `reserve` enforces the token budget before each attempt."""

    budget: int
    calls: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    unconfirmed_tokens: int = 0  # reserved by attempts that failed after the provider may have processed them
    cost_usd: float = 0.0
    reserved: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def spent(self) -> int:
        return self.input_tokens + self.output_tokens + self.unconfirmed_tokens

    def reserve(self, tokens: int) -> None:
        with self._lock:
            if self.spent + self.reserved + tokens > self.budget:
                raise BudgetExceeded(f"token budget of {self.budget:,} reached ({self.spent:,} spent, "
                                     f"{self.reserved:,} reserved by calls in flight); raise "
                                     "CTRLMAP_LLM_TOKEN_BUDGET to continue", target="llm")
            self.reserved += tokens
            self.attempts += 1

    def release(self, reserved: int) -> None:
        """An attempt that never reached the provider: nothing was spent."""
        with self._lock:
            self.reserved -= reserved
            self.failed_attempts += 1

    def charge(self, reserved: int) -> None:
        """An attempt that failed after the provider may have processed it: its reservation counts as spent."""
        with self._lock:
            self.reserved -= reserved
            self.failed_attempts += 1
            self.unconfirmed_tokens += reserved

    def settle(self, reserved: int, input_tokens: int, output_tokens: int, usd: float) -> None:
        with self._lock:
            self.reserved -= reserved
            self.calls += 1
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.cost_usd = round(self.cost_usd + usd, 6)

    def hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def as_dict(self) -> dict:
        return {"calls": self.calls, "attempts": self.attempts, "failed_attempts": self.failed_attempts,
                "cache_hits": self.cache_hits, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "unconfirmed_tokens": self.unconfirmed_tokens,
                "budget": self.budget, "cost_usd": round(self.cost_usd, 6)}


SPENDING = ("calls", "attempts", "failed_attempts", "cache_hits", "input_tokens", "output_tokens",
            "unconfirmed_tokens", "cost_usd")  # the figures of `Usage.as_dict()` that grow with each call


def spent_between(before: dict, after: dict) -> dict:
    """What a client spent between two snapshots of its usage."""
    return {k: round(after.get(k, 0) - before.get(k, 0), 6) for k in SPENDING}


def added(total: dict, step: dict) -> dict:
    """`total` (a run's usage so far, with any other keys it carries) with one more step's spending added."""
    return {**total, **{k: round(total.get(k, 0) + step.get(k, 0), 6) for k in SPENDING}}


class Breaker:
    """Opens after `threshold` consecutive failures of the endpoint; stays open for the rest of the run."""

    def __init__(self, threshold: int = 3) -> None:
        self.threshold = max(1, threshold)
        self.consecutive = 0
        self.reason: str | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        if self.reason:
            raise LLMUnavailable(self.reason, target="llm")

    def success(self) -> None:
        with self._lock:
            self.consecutive = 0

    def failure(self, what: str, endpoint: str) -> None:
        with self._lock:
            self.consecutive += 1
            if self.consecutive >= self.threshold and not self.reason:
                self.reason = (f"stopped calling the model endpoint {endpoint} after {self.consecutive} "
                               f"consecutive failures (last: {what}); check that the server is running and "
                               "reachable, then run again")
