"""Retry policy: backoff ceilings, full-jitter range, determinism, and when an effect is dead-lettered."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoiceflow.effects.policy import (
    DEFAULT_POLICIES,
    DEFAULT_POLICY,
    DeadLetter,
    Retry,
    RetryPolicy,
    decide,
    policy_for,
)

from docpages import read_page

DOCS = Path(__file__).parents[2] / "docs"


class Fixed:
    """A random source that always returns the same value."""

    def __init__(self, value: float):
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("base, cap, attempt, expected", [
    (1.0, 60.0, 1, 1.0),
    (1.0, 60.0, 2, 2.0),
    (1.0, 60.0, 3, 4.0),
    (1.0, 60.0, 6, 32.0),
    (1.0, 60.0, 7, 60.0),  # 64 capped at max_delay
    (1.0, 60.0, 500, 60.0),  # no overflow for absurd attempt numbers
    (30.0, 21600.0, 10, 15360.0),
    (0.0, 0.0, 4, 0.0),
])
def test_ceiling_doubles_per_attempt_up_to_max_delay(base, cap, attempt, expected):
    assert RetryPolicy(base_delay=base, max_delay=cap).ceiling(attempt) == expected


@pytest.mark.parametrize("draw, attempt, expected", [
    (0.0, 1, 0.0),
    (0.5, 1, 5.0),
    (0.5, 3, 20.0),
    (0.25, 4, 20.0),
    (0.999, 20, 0.999 * 3600.0),
])
def test_full_jitter_scales_the_ceiling_by_the_draw(draw, attempt, expected):
    assert RetryPolicy(base_delay=10.0, max_delay=3600.0).next_delay(attempt, Fixed(draw)) == pytest.approx(expected)


def test_without_jitter_the_delay_is_the_ceiling():
    policy = RetryPolicy(base_delay=2.0, max_delay=100.0, jitter=False)
    assert [policy.next_delay(n, Fixed(0.0)) for n in range(1, 8)] == [2, 4, 8, 16, 32, 64, 100]


@given(attempt=st.integers(min_value=1, max_value=200), draw=st.floats(min_value=0.0, max_value=0.9999999),
       base=st.floats(min_value=0.0, max_value=100.0), extra=st.floats(min_value=0.0, max_value=10000.0))
def test_delay_is_always_within_zero_and_the_capped_ceiling(attempt, draw, base, extra):
    policy = RetryPolicy(base_delay=base, max_delay=base + extra)
    delay = policy.next_delay(attempt, Fixed(draw))
    assert 0.0 <= delay <= min(policy.max_delay, base * 2 ** min(attempt - 1, 64))


def test_jitter_spreads_over_the_whole_window_and_is_deterministic_per_seed():
    policy = RetryPolicy(base_delay=10.0, max_delay=3600.0)
    draws = [policy.next_delay(5, random.Random(7)) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same delay
    rng = random.Random(42)
    spread = [policy.next_delay(5, rng) for _ in range(2000)]
    assert min(spread) < 0.05 * 160 and max(spread) > 0.95 * 160
    assert all(0 <= d <= 160 for d in spread)
    assert policy.next_delay(3, random.Random(1)) != policy.next_delay(3, random.Random(2))


@pytest.mark.parametrize("attempt, permanent, max_attempts, retry_after, expected", [
    (1, True, None, None, DeadLetter("permanent failure")),
    (1, False, None, None, Retry(5.0)),
    (3, False, None, None, Retry(20.0)),
    (4, False, None, None, DeadLetter("gave up after 4 attempts (limit 4)")),
    (9, False, None, None, DeadLetter("gave up after 9 attempts (limit 4)")),
    (4, False, 6, None, Retry(40.0)),  # the effect's own limit wins over the policy's
    (6, False, 6, None, DeadLetter("gave up after 6 attempts (limit 6)")),
    (1, False, None, 30.0, Retry(30.0)),  # the target's Retry-After replaces the backoff
    (1, False, None, 99999.0, Retry(600.0)),  # ... capped at max_delay
    (1, False, None, -5.0, Retry(0.0)),
    (4, False, None, 30.0, DeadLetter("gave up after 4 attempts (limit 4)")),
])
def test_decide(attempt, permanent, max_attempts, retry_after, expected):
    policy = RetryPolicy(max_attempts=4, base_delay=10.0, max_delay=600.0)
    assert decide(policy, attempt=attempt, permanent=permanent, rng=Fixed(0.5), max_attempts=max_attempts,
                  retry_after=retry_after) == expected


def test_dead_letter_after_exactly_n_failed_attempts():
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=10.0)
    outcomes = [decide(policy, attempt=n, permanent=False, rng=random.Random(n)) for n in range(1, 6)]
    assert [type(o) for o in outcomes] == [Retry, Retry, Retry, Retry, DeadLetter]


@pytest.mark.parametrize("kwargs, message", [
    ({"max_attempts": 0}, "max_attempts must be at least 1"),
    ({"base_delay": -1.0}, "delays must not be negative"),
    ({"base_delay": 10.0, "max_delay": 5.0}, "max_delay 5.0 is below base_delay 10.0"),
    ({"lease": 0}, "lease must be positive"),
])
def test_invalid_policies_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


def test_attempt_numbers_start_at_one():
    with pytest.raises(ValueError, match="attempt numbers start at 1"):
        RetryPolicy().ceiling(0)


@pytest.mark.parametrize("kind, max_attempts", [
    ("tax.quote", 5), ("erp.post", 10), ("email.send", 8), ("webhook.deliver", 12), ("something.else", 8),
])
def test_default_policy_per_kind(kind, max_attempts):
    assert policy_for(kind).max_attempts == max_attempts


def test_overrides_win_and_unknown_kinds_fall_back_to_the_default():
    custom = RetryPolicy(max_attempts=2)
    assert policy_for("erp.post", {"erp.post": custom}) is custom
    assert policy_for("other", {"erp.post": custom}) is DEFAULT_POLICY
    assert DEFAULT_POLICIES["tax.quote"].max_delay < DEFAULT_POLICIES["erp.post"].max_delay


def test_the_documented_policy_table_is_the_one_in_force():
    units = {"s": 1.0, "min": 60.0, "h": 3600.0}

    def seconds(cell: str) -> float:
        number, unit = cell.split()
        return float(number) * units[unit]

    [table] = [t for kind, t in read_page(DOCS / "effects.md") if kind == "table" and t and "lease" in t[0]]
    documented = {row["kind"].strip("`"): RetryPolicy(max_attempts=int(row["max attempts"]),
                                                     base_delay=seconds(row["base delay"]),
                                                     max_delay=seconds(row["max delay"]), lease=seconds(row["lease"]))
                  for row in table}
    assert documented == {**DEFAULT_POLICIES, "any other kind": DEFAULT_POLICY}
