"""What the API's handlers share: the engine, the clock, the settings and the in-process state.

Settings come from the environment when the server starts (`ApiSettings.from_env`), or are passed to
`create_app` by tests and embedders. Nothing in here is global: two apps in one process (tests do that)
keep separate buckets, caches and bill-run progress.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from invoiceflow.api.ratelimit import TokenBuckets
from invoiceflow.clock import Clock, SystemClock

MAX_BATCH = 10_000


@dataclass(frozen=True)
class ApiSettings:
    rate_per_second: float = 100.0  # per tenant and process
    burst: int = 200
    jwt_secret: str | None = None  # INVOICEFLOW_JWT_SECRET; without it the token endpoint is off
    token_ttl_seconds: int = 900
    idempotency_ttl_hours: int = 24
    max_body_bytes: int = 32 * 1024 * 1024
    max_batch: int = MAX_BATCH

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "ApiSettings":
        env = dict(os.environ if env is None else env)
        return cls(
            rate_per_second=float(env.get("INVOICEFLOW_API_RATE", cls.rate_per_second)),
            burst=int(env.get("INVOICEFLOW_API_BURST", cls.burst)),
            jwt_secret=env.get("INVOICEFLOW_JWT_SECRET") or None,
            token_ttl_seconds=int(env.get("INVOICEFLOW_JWT_TTL", cls.token_ttl_seconds)),
            idempotency_ttl_hours=max(24, int(env.get("INVOICEFLOW_IDEMPOTENCY_HOURS", cls.idempotency_ttl_hours))),
        )


@dataclass
class ApiContext:
    engine: Engine
    settings: ApiSettings
    clock: Clock = field(default_factory=SystemClock)
    limiter: TokenBuckets = field(init=False)
    verified: dict[str, str] = field(default_factory=dict)  # credential row key -> sha256 of what verified
    last_used: dict[str, float] = field(default_factory=dict)  # credential -> monotonic time last recorded
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)  # bill run id -> progress in this process
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.limiter = TokenBuckets(self.settings.rate_per_second, self.settings.burst)
