"""Delivering outbound events: the "webhook.deliver" effect handler, the delivery log, and redelivery.

The handler POSTs the event as JSON with `Invoiceflow-Signature: t=<unix>,v1=<hmac>` (the scheme of
webhooks/signatures.py, signed at send time with the endpoint's current secret, and during a rotation's
grace period with the previous one too) and `Invoiceflow-Event-Id`,
which receivers use to drop repeats: an attempt whose answer was lost is sent again. 2xx is delivered;
408, 429, 5xx, timeouts and connection errors are transient (retried with the effects policy's backoff,
Retry-After honoured); any other answer is permanent (dead-lettered at once, replayable). Redirects are
not followed: a moved endpoint must be updated, not silently chased.

Each attempt's HTTP details (status code, duration, the start of the response) go to `webhook_attempts`,
joined to the effect's own attempt log (`effect_attempts`) by the run's worker token: together they are the
delivery log of an endpoint.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, Select, and_, insert, select

from invoiceflow.effects import EffectContext, EffectView, Permanent, Transient, register
from invoiceflow.effects.errors import retry_after_seconds
from invoiceflow.effects.model import DEAD, PENDING, SUCCEEDED, effect_view, utc
from invoiceflow.effects.operations import replay_effect, retry_effect
from invoiceflow.errors import ConflictError, NotFound
from invoiceflow.store.effects_tables import effect_attempts, effects
from invoiceflow.store.webhook_tables import webhook_attempts, webhook_endpoints
from invoiceflow.webhooks.endpoints import signing_secrets
from invoiceflow.webhooks.outbound import KIND, target
from invoiceflow.webhooks.signatures import sign

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
EXCERPT = 500
USER_AGENT = "invoiceflow-webhooks/1"
_TRANSIENT = {408, 425, 429}


def body_of(event: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON with sorted keys."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def deliver(effect: EffectView, context: EffectContext) -> dict[str, Any]:
    """Send one event to one endpoint; the effect handler of "webhook.deliver"."""
    endpoint_id, event = int(effect.payload["endpoint_id"]), effect.payload["event"]
    with context.engine.connect() as conn:
        endpoint = conn.execute(select(webhook_endpoints).where(
            webhook_endpoints.c.tenant_id == effect.tenant_id, webhook_endpoints.c.id == endpoint_id)
        ).mappings().first()
    if endpoint is None or endpoint["deleted_at"] is not None or not endpoint["active"]:
        why = "deleted" if endpoint is None or endpoint["deleted_at"] is not None else "disabled"
        return {"skipped": f"endpoint {endpoint_id} is {why}; redeliver once it is active"}
    body, now = body_of(event), context.clock.now()
    signature = sign(signing_secrets(endpoint, now), int(now.timestamp()), body)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "Invoiceflow-Signature": signature, "Invoiceflow-Event-Id": event["id"],
               "Invoiceflow-Event-Type": event["type"], "Invoiceflow-Delivery-Attempt": str(context.attempt)}
    started = time.monotonic()
    try:
        response = httpx.post(endpoint["url"], content=body, headers=headers, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc or 'no answer'} ({endpoint['url']})"
        _log(context, effect, endpoint, started, None, None, error)
        raise Transient(error) from None
    excerpt = response.text[:EXCERPT] if response.content else ""
    status = response.status_code
    if 200 <= status < 300:
        _log(context, effect, endpoint, started, status, excerpt, None)
        return {"status_code": status, "endpoint_id": endpoint_id, "event_id": event["id"]}
    error = f"HTTP {status} from {endpoint['url']}" + (f": {excerpt[:200]}" if excerpt else "")
    _log(context, effect, endpoint, started, status, excerpt, error)
    if status in _TRANSIENT or status >= 500:
        raise Transient(error, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    if 300 <= status < 400:
        raise Permanent(f"{error} (redirects are not followed: update the endpoint's URL)")
    raise Permanent(error)


register(KIND, deliver)


def deliveries_query(tenant_id: int, endpoint_id: int) -> Select:
    """The deliveries (effects) of one endpoint; the delivery log's list."""
    return select(effects).where(effects.c.tenant_id == tenant_id, effects.c.kind == KIND,
                                 effects.c.target == target(endpoint_id))


def delivery_log(conn: Connection, tenant_id: int, effect_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every attempt of the given deliveries, oldest first, with its HTTP details where a response came."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in effect_ids}
    if not effect_ids:
        return out
    query = (select(effect_attempts, webhook_attempts.c.status_code, webhook_attempts.c.duration_ms,
                    webhook_attempts.c.response_excerpt, webhook_attempts.c.url)
             .outerjoin(webhook_attempts, and_(webhook_attempts.c.effect_id == effect_attempts.c.effect_id,
                                               webhook_attempts.c.worker == effect_attempts.c.worker))
             .where(effect_attempts.c.tenant_id == tenant_id, effect_attempts.c.effect_id.in_(effect_ids))
             .order_by(effect_attempts.c.id))
    for row in conn.execute(query).mappings():
        started, finished = utc(row["started_at"]), utc(row["finished_at"])
        duration = row["duration_ms"]
        if duration is None and started and finished:
            duration = int((finished - started).total_seconds() * 1000)
        out[int(row["effect_id"])].append({
            "attempt": row["attempt"], "outcome": row["outcome"], "status_code": row["status_code"],
            "duration_ms": duration, "error": row["error"], "response_excerpt": row["response_excerpt"],
            "url": row["url"], "started_at": started, "finished_at": finished})
    return out


def delivery_view(row: Any, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    effect = effect_view(row)
    event = effect.payload.get("event", {})
    return {"id": effect.id, "event_id": event.get("id"), "event_type": event.get("type"), "status": effect.status,
            "attempts": effect.attempts, "max_attempts": effect.max_attempts, "next_attempt_at": effect.next_attempt_at,
            "last_error": effect.last_error, "created_at": effect.created_at, "succeeded_at": effect.succeeded_at,
            "event": event, "attempt_log": attempts}


def redeliver(conn: Connection, tenant_id: int, endpoint_id: int, delivery_id: int, *, actor: str,
              at: datetime) -> EffectView:
    """Send a delivery again now: a pending one is made due, a dead or delivered one starts over (audited)."""
    row = conn.execute(deliveries_query(tenant_id, endpoint_id).where(effects.c.id == delivery_id)).mappings().first()
    if row is None:
        raise NotFound(f"delivery {delivery_id} of webhook endpoint {endpoint_id} does not exist in this tenant")
    status = row["status"]
    if status == PENDING:
        return retry_effect(conn, tenant_id, delivery_id, at=at, actor=actor)
    if status in (DEAD, SUCCEEDED):
        return replay_effect(conn, tenant_id, delivery_id, at=at, actor=actor, force=status == SUCCEEDED)
    raise ConflictError(f"delivery {delivery_id} is being sent right now; look at its attempt log in a moment")


def _log(context: EffectContext, effect: EffectView, endpoint: Any, started: float, status: int | None,
         excerpt: str | None, error: str | None) -> None:
    duration = int((time.monotonic() - started) * 1000)
    with context.engine.begin() as conn:
        conn.execute(insert(webhook_attempts).values(
            tenant_id=effect.tenant_id, effect_id=effect.id, endpoint_id=int(endpoint["id"]), attempt=context.attempt,
            worker=context.worker, url=endpoint["url"], status_code=status, duration_ms=duration,
            response_excerpt=excerpt, error=error, at=context.clock.now()))


