"""How an effect handler says that an attempt failed, and what the runner should do about it.

`Transient`: the target may answer next time (timeout, 5xx, connection refused, 429): retry with backoff.
`Permanent`: retrying cannot help until someone fixes something (bad credentials, a payload the target
rejects, an unknown account, a changed schema): dead-letter now, keep the error, allow a replay later.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


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


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from an HTTP Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable.

    One reading for every HTTP adapter (ERPs, tax engines, webhook receivers), so a target's hint means the
    same wherever it comes from."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
