"""How an effect handler says that an attempt failed, and what the runner should do about it.

`Transient`: the target may answer next time (timeout, 5xx, connection refused, 429): retry with backoff.
`Permanent`: retrying cannot help until someone fixes something (bad credentials, a payload the target
rejects, an unknown account, a changed schema): dead-letter now, keep the error, allow a replay later.
"""

from __future__ import annotations


class EffectError(Exception):
    """An effect attempt failed; `detail` is what the operator sees on the effect."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Transient(EffectError):
    """Retry later: the failure may clear by itself. `retry_after` (seconds) overrides the backoff."""

    def __init__(self, detail: str, *, retry_after: float | None = None):
        super().__init__(detail)
        self.retry_after = retry_after


class Permanent(EffectError):
    """Do not retry: dead-letter the effect with this error until it is replayed after a fix."""
