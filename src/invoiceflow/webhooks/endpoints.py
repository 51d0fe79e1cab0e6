"""A tenant's outbound webhook endpoints: where events go, which events, and the secret that signs them.

The secret is generated here and shown once, at creation or rotation: the receiver needs it to verify
signatures, and invoiceflow needs it to sign, so it is stored as is and never returned again
(docs/webhooks.md, "Secrets"). A rotation keeps the previous secret signing too for a grace period, so a
receiver never sees a delivery it cannot verify, whenever it switches within that window. URLs must be
https, except http to the loopback interface (a receiver on the same machine, in development and tests).
Deleting an endpoint keeps its row, so the delivery log stays readable in the audit trail; deliveries
still waiting for it are skipped.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import datetime, timedelta
from typing import Any, Iterable
from urllib.parse import urlsplit

from sqlalchemy import Connection, insert, select, update

from invoiceflow.audit.log import append_entry
from invoiceflow.effects.model import utc
from invoiceflow.errors import NotFound, Problem, ValidationError
from invoiceflow.store.webhook_tables import webhook_endpoints
from invoiceflow.webhooks.outbound import EVENT_TYPES, WILDCARD

MAX_ENDPOINTS = 20  # per tenant: each one multiplies every event's deliveries
ROTATION_GRACE = timedelta(hours=24)
MAX_ROTATION_GRACE = timedelta(days=7)  # two valid secrets for longer would just be a second secret


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_url(url: str) -> str | None:
    """Why `url` cannot receive webhooks, or None."""
    if not isinstance(url, str) or not 1 <= len(url) <= 2000:
        return "must be a URL of at most 2000 characters"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https:// URL"
    if parts.username or parts.password:
        return "must not carry credentials (they would be logged with the URL); verify the signature instead"
    if parts.fragment:
        return "must not have a #fragment"
    if parts.scheme == "http" and not _loopback(parts.hostname):
        return "must use https (plain http is allowed only to localhost, for development)"
    return None


def check_event_types(event_types: Iterable[str]) -> str | None:
    types = list(event_types)
    if not types:
        return f"subscribe to at least one event type ({', '.join(EVENT_TYPES)}) or {WILDCARD!r} for all"
    unknown = [t for t in types if t not in EVENT_TYPES and t != WILDCARD]
    if unknown:
        return f"unknown event type(s) {', '.join(map(repr, unknown))}; known: {', '.join(EVENT_TYPES)}"
    return None


def create_endpoint(conn: Connection, tenant_id: int, *, url: str, event_types: list[str], description: str | None,
                    active: bool, actor: str, at: datetime) -> tuple[dict[str, Any], str]:
    """A new endpoint and its secret (shown to the caller once)."""
    _check(url=url, event_types=event_types)
    count = len(conn.execute(select(webhook_endpoints.c.id).where(
        webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.deleted_at.is_(None))).all())
    if count >= MAX_ENDPOINTS:
        raise ValidationError(f"this tenant already has {count} endpoints (the limit is {MAX_ENDPOINTS}); delete "
                              "one first", field="url")
    secret = new_secret()
    endpoint_id = conn.execute(insert(webhook_endpoints).values(
        tenant_id=tenant_id, url=url, secret=secret, event_types=sorted(set(event_types)), description=description,
        active=active, created_at=at, created_by=actor, updated_at=at).returning(webhook_endpoints.c.id)).scalar_one()
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="webhook_endpoint.created",
                 object_type="webhook_endpoint", object_id=endpoint_id, at=at,
                 payload={"url": url, "event_types": sorted(set(event_types)), "active": active})
    return get_endpoint(conn, tenant_id, int(endpoint_id)), secret


def update_endpoint(conn: Connection, tenant_id: int, endpoint_id: int, changes: dict[str, Any], *, actor: str,
                    at: datetime) -> dict[str, Any]:
    """Change url, event types, description or active; only the fields given."""
    current = get_endpoint(conn, tenant_id, endpoint_id, lock=True)
    _check(url=changes.get("url"), event_types=changes.get("event_types"))
    if "event_types" in changes:
        changes["event_types"] = sorted(set(changes["event_types"]))
    changed = {k: v for k, v in changes.items() if current.get(k) != v}
    if not changed:
        return current
    conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
                 .values(**changed, updated_at=at))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="webhook_endpoint.updated",
                 object_type="webhook_endpoint", object_id=endpoint_id, at=at,
                 payload={"changed": changed, "previous": {k: current.get(k) for k in changed}})
    return get_endpoint(conn, tenant_id, endpoint_id)


def rotate_secret(conn: Connection, tenant_id: int, endpoint_id: int, *, grace: timedelta = ROTATION_GRACE,
                  reason: str | None = None, actor: str, at: datetime) -> tuple[dict[str, Any], str]:
    """A new signing secret (shown to the caller once); the current one also signs deliveries for `grace`.

    Rotating again within a grace period replaces the previous secret: only two secrets ever sign.
    """
    if not timedelta(0) <= grace <= MAX_ROTATION_GRACE:
        raise ValidationError(f"must be 0 to {int(MAX_ROTATION_GRACE.total_seconds())} seconds",
                              record="webhook endpoint", field="grace_seconds")
    current = get_endpoint(conn, tenant_id, endpoint_id, lock=True, with_secret=True)
    secret, until = new_secret(), (at + grace if grace else None)
    conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(
        secret=secret, previous_secret=current["secret"] if until else None, previous_valid_until=until,
        updated_at=at))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="webhook_endpoint.secret_rotated",
                 object_type="webhook_endpoint", object_id=endpoint_id, at=at,
                 payload={"grace_seconds": int(grace.total_seconds()), "reason": reason,
                          "previous_valid_until": until.isoformat() if until else None})
    return get_endpoint(conn, tenant_id, endpoint_id), secret


def signing_secrets(row: Any, at: datetime) -> list[str]:
    """The secrets that sign a delivery sent at `at`: the current one, then the previous one in its grace."""
    until = row["previous_valid_until"]
    rotating = row["previous_secret"] and until is not None and utc(until) > utc(at)
    return [row["secret"], row["previous_secret"]] if rotating else [row["secret"]]


def delete_endpoint(conn: Connection, tenant_id: int, endpoint_id: int, *, actor: str, at: datetime) -> None:
    current = get_endpoint(conn, tenant_id, endpoint_id, lock=True)
    conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
                 .values(deleted_at=at, active=False, updated_at=at))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="webhook_endpoint.deleted",
                 object_type="webhook_endpoint", object_id=endpoint_id, at=at, payload={"url": current["url"]})


def get_endpoint(conn: Connection, tenant_id: int, endpoint_id: int, *, lock: bool = False,
                 with_secret: bool = False) -> dict[str, Any]:
    """An endpoint of the tenant that is not deleted (without its secret unless asked), or NotFound."""
    query = select(webhook_endpoints).where(webhook_endpoints.c.tenant_id == tenant_id,
                                            webhook_endpoints.c.id == endpoint_id,
                                            webhook_endpoints.c.deleted_at.is_(None))
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} does not exist in this tenant")
    return public(row, with_secret=with_secret)


def public(row: Any, *, with_secret: bool = False) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "url", "event_types", "description", "active", "created_at", "created_by",
                               "updated_at")}
    out["active"] = bool(out["active"])
    out["previous_secret_valid_until"] = row["previous_valid_until"]
    if with_secret:
        out["secret"] = row["secret"]
    return out


def _check(*, url: str | None, event_types: list[str] | None) -> None:
    problems = []
    if url is not None and (why := check_url(url)):
        problems.append(Problem("webhook endpoint", "url", why))
    if event_types is not None and (why := check_event_types(event_types)):
        problems.append(Problem("webhook endpoint", "event_types", why))
    if problems:
        raise ValidationError(problems)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
