"""Per-tenant rate limits: a token bucket per tenant, in this process's memory.

One noisy integration should not starve the other tenants of a shared server. Each tenant's bucket holds
up to `burst` requests and refills at `rate` per second; an empty bucket answers 429 with `Retry-After`
(whole seconds until a token is back). The buckets live in the process: with N server processes a tenant
gets up to N times the rate. That is documented rather than hidden; a shared limiter (PostgreSQL or a
cache) can replace this class behind the same `take` method.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from invoiceflow.api.problems import ApiProblem


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """`take(tenant)` spends one token or raises a 429 problem; thread-safe."""

    def __init__(self, rate: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self._now = float(rate), int(burst), monotonic
        self._buckets: dict[object, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, tenant: object, cost: float = 1.0) -> float:
        """Spend `cost` tokens of `tenant`'s bucket; returns what is left."""
        now = self._now()
        with self._lock:
            bucket = self._buckets.get(tenant)
            if bucket is None:
                bucket = self._buckets[tenant] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return bucket.tokens
            wait = math.ceil((cost - bucket.tokens) / self.rate)
        raise ApiProblem(429, f"rate limit of {self.rate:g} requests/s (burst {self.burst}) for this tenant "
                              f"exceeded; retry in {wait} s", kind="rate-limited",
                         headers={"Retry-After": str(max(wait, 1))})
