"""HMAC-SHA256 webhook signatures, Stripe's scheme, used both ways: `t=<unix>,v1=<hex>[,v1=<hex>...]`.

The signed payload is f"{t}.{raw body}" and each `v1` is hex(hmac_sha256(secret, payload)). Signing the
timestamp with the body is what makes a captured request useless later: the receiver refuses a timestamp
outside its tolerance, and changing the timestamp breaks the signature. Several `v1` values let a sender
sign with an old and a new secret while a rotation is under way; any one that matches is enough. Unknown
schemes (`v0`, ...) are ignored, as Stripe's libraries do.

Pure: no clock and no I/O, so `now` is passed in. Digests are compared with `hmac.compare_digest`, which
takes the same time whatever the first differing byte, so a forger learns nothing from response timing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Sequence

DEFAULT_TOLERANCE = 300  # seconds, Stripe's default
SCHEME = "v1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_HEADER = 2048


class SignatureError(Exception):
    """A delivery whose signature does not prove it: `reason` is missing, malformed, mismatch or expired."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def compute(secret: str, timestamp: int, body: bytes) -> str:
    """hex(hmac_sha256(secret, f"{timestamp}.{body}"))."""
    return hmac.new(secret.encode(), str(int(timestamp)).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The header value a sender puts on `body` sent at `timestamp`: one `v1` per secret, in order (a
    rotating sender passes the new secret and the old one, so receivers on either keep verifying)."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("signing needs at least one secret")
    return ",".join([f"t={int(timestamp)}", *(f"{SCHEME}={compute(s, timestamp, body)}" for s in secrets)])


def parse(header: str) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) of a header value; SignatureError("malformed") when it cannot be read."""
    if len(header) > _MAX_HEADER:
        raise SignatureError("malformed", f"the signature header is over {_MAX_HEADER} characters")
    stamps, signatures = [], []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            stamps.append(value.strip())
        elif key == SCHEME:
            signatures.append(value.strip().lower())
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit():
        raise SignatureError("malformed", "the signature header needs exactly one t=<unix seconds>")
    valid = [s for s in signatures if _HEX64.match(s)]
    if not valid:
        raise SignatureError("malformed", f"the signature header has no {SCHEME}=<64 hex digits> signature")
    return int(stamps[0]), valid


def verify(header: str | None, body: bytes, secrets: Sequence[str], *, now: float,
           tolerance: int = DEFAULT_TOLERANCE, name: str = "Invoiceflow-Signature") -> int:
    """Check `header` against the raw `body` with any of `secrets`; the signed timestamp, or SignatureError.

    The signature is checked before the timestamp, so "expired" is only ever said of an authentic request
    (a stale replay or a skewed clock), never of a forgery.
    """
    if not header:
        raise SignatureError("missing", f"the {name} header is missing")
    timestamp, signatures = parse(header)
    expected = [compute(secret, timestamp, body).encode() for secret in secrets if secret]
    if not any(hmac.compare_digest(e, s.encode()) for e in expected for s in signatures):
        raise SignatureError("mismatch", f"no {SCHEME} signature in {name} matches the body: the secret is wrong "
                                         "or the body was altered after signing")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("expired", f"the signed timestamp {timestamp} is {int(abs(now - timestamp))} s from "
                                        f"the server's time, over the tolerance of {tolerance} s: a replayed "
                                        "request, or a sender clock that is off")
    return timestamp
