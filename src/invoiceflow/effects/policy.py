"""Retry policy per effect kind: exponential backoff with full jitter, and when to give up (dead-letter).

Pure: no clock, no database, no global random state. The caller passes the attempt number and a random
source, so the same inputs always give the same decision and the schedule can be tested exactly.

Backoff is "full jitter": the delay before attempt n+1 is uniform in [0, min(max_delay, base * 2**(n-1))].
Spreading retries over the whole window keeps a fleet of workers from hammering a target that has just come
back, which matters more than any single retry being prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol


class RandomSource(Protocol):
    """Anything with `random()` -> float in [0, 1), such as `random.Random(seed)`."""

    def random(self) -> float: ...


# A run whose worker died (its lease expired) does not count as a failed attempt, but a kind of effect
# that kills its worker every time must not loop forever: after this many lost runs it is dead-lettered.
MAX_LOST_LEASES = 3


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one kind of effect is retried. Delays and the lease are in seconds."""

    max_attempts: int = 8
    base_delay: float = 10.0
    max_delay: float = 3600.0
    jitter: bool = True
    lease: float = 300.0  # how long a run may hold the effect before the sweep assumes its worker died

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            problems.append(f"delays must not be negative, got base {self.base_delay}, max {self.max_delay}")
        if self.max_delay < self.base_delay:
            problems.append(f"max_delay {self.max_delay} is below base_delay {self.base_delay}")
        if self.lease <= 0:
            problems.append(f"lease must be positive, got {self.lease}")
        if problems:
            raise ValueError("invalid retry policy: " + "; ".join(problems))

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt `attempt` (1-based): base * 2**(attempt-1), capped."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        exponent = min(attempt - 1, 64)  # 2**64 * base is beyond any max_delay; avoids huge ints
        return min(self.max_delay, self.base_delay * (2 ** exponent))

    def next_delay(self, attempt: int, rng: RandomSource) -> float:
        """Seconds to wait after failed attempt `attempt`: uniform in [0, ceiling] with jitter, else the ceiling."""
        ceiling = self.ceiling(attempt)
        return rng.random() * ceiling if self.jitter else ceiling


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after `delay` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Stop retrying; `reason` says why, for the operator."""

    reason: str


Decision = Retry | DeadLetter


def decide(policy: RetryPolicy, *, attempt: int, permanent: bool, rng: RandomSource,
           max_attempts: int | None = None, retry_after: float | None = None) -> Decision:
    """What to do after failed attempt `attempt` (1-based).

    Permanent failures dead-letter at once. Transient ones retry until `max_attempts` (the effect's own,
    else the policy's) attempts have failed. A target's `retry_after` replaces the backoff, capped at
    `max_delay` so a confused target cannot park an effect for days.
    """
    limit = policy.max_attempts if max_attempts is None else max_attempts
    if permanent:
        return DeadLetter("permanent failure")
    if attempt >= limit:
        return DeadLetter(f"gave up after {attempt} attempts (limit {limit})")
    if retry_after is not None:
        return Retry(min(max(float(retry_after), 0.0), policy.max_delay))
    return Retry(policy.next_delay(attempt, rng))


DEFAULT_POLICY = RetryPolicy()

# Defaults per kind. A tax quote sits in front of an invoice being issued: retry fast, give up soon. ERP
# postings and e-mails survive long outages. Webhooks follow the common practice of retrying for about a
# day with widening gaps, since the receiver may be down for maintenance.
DEFAULT_POLICIES: Mapping[str, RetryPolicy] = {
    "tax.quote": RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=60.0, lease=60.0),
    "erp.post": RetryPolicy(max_attempts=10, base_delay=30.0, max_delay=6 * 3600.0, lease=300.0),
    "email.send": RetryPolicy(max_attempts=8, base_delay=60.0, max_delay=4 * 3600.0, lease=120.0),
    "webhook.deliver": RetryPolicy(max_attempts=12, base_delay=60.0, max_delay=12 * 3600.0, lease=60.0),
}


def policy_for(kind: str, overrides: Mapping[str, RetryPolicy] | None = None) -> RetryPolicy:
    """The policy of `kind`: an override, else the built-in default for the kind, else DEFAULT_POLICY."""
    if overrides and kind in overrides:
        return overrides[kind]
    return DEFAULT_POLICIES.get(kind, DEFAULT_POLICY)
