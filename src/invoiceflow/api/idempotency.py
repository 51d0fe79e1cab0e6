"""`Idempotency-Key` on POST: a retried request gets the first response, never a second effect.

The first request with a key reserves it (a row with no response yet) in its own short transaction; the
unique (tenant, key) constraint makes the reservation atomic, so of two concurrent duplicates exactly one
runs and the other is told 409 (retry shortly). When the handler finishes, its response (status, body and
the headers that matter) is stored on the row; the same key with the same request then replays it with
`Idempotent-Replayed: true`. The same key with a different method, path or body is refused with 422: two
different requests under one key is a client bug that would otherwise silently drop the second.

The request hash covers the method, the path with its query and the body (JSON bodies canonicalised, so key
order and whitespace do not matter). Keys are kept `idempotency_ttl_hours` (at least 24 h) and purged after.

A response that shows a secret once (a new API key) stores a copy without it: its replay confirms what was
made but does not hand the secret out again.

What is not stored, so the retry runs again: responses to requests refused before the operation started
(malformed or invalid request, missing permission, failed precondition) and server errors. A reservation
whose request died with its process is taken over after `STALE_AFTER`; the operations behind the API are
themselves idempotent (usage by transaction id, catalog by content hash, lifecycle actions), so a rerun
after such a crash does not double anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from starlette.responses import Response

from invoiceflow.api.problems import ApiProblem, field_error
from invoiceflow.store.api_tables import idempotency_keys

STALE_AFTER = timedelta(minutes=10)
MAX_KEY = 255
KEPT_HEADERS = ("content-type", "etag", "location")


@dataclass(frozen=True, slots=True)
class Reservation:
    row_id: int


def fingerprint(method: str, path: str, query: str, body: bytes, content_type: str) -> str:
    """What makes two requests "the same": method, path, query and body (JSON compared by meaning)."""
    if body and "json" in content_type:
        try:
            body = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
        except orjson.JSONDecodeError:
            pass  # hashed as sent; the handler will refuse it anyway
    digest = hashlib.sha256(f"{method} {path}?{query}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable():
        raise ApiProblem(400, f"Idempotency-Key must be 1 to {MAX_KEY} printable characters",
                         errors=[field_error("Idempotency-Key", "1 to 255 printable characters", pointer="",
                                             where="header")])
    return key


def reserve(engine: Engine, tenant_id: int, key: str, method: str, path: str, request_hash: str, *,
            now: datetime, ttl: timedelta) -> Reservation | Response:
    """Reserve `key` for this request, or return the stored response of the same earlier request."""
    values = dict(tenant_id=tenant_id, key=key, method=method, path=path[:500], request_hash=request_hash,
                  created_at=now, expires_at=now + ttl)
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        new_id = conn.execute(dialect.insert(idempotency_keys).values(**values).on_conflict_do_nothing(
            index_elements=["tenant_id", "key"]).returning(idempotency_keys.c.id)).scalar()
        if new_id is not None:
            return Reservation(int(new_id))
        row = conn.execute(select(idempotency_keys).where(idempotency_keys.c.tenant_id == tenant_id,
                                                          idempotency_keys.c.key == key).with_for_update()
                           ).mappings().one()
        if _aware(row["expires_at"], now) <= now or (row["status_code"] is None
                                                     and _aware(row["created_at"], now) + STALE_AFTER <= now):
            conn.execute(update(idempotency_keys).where(idempotency_keys.c.id == row["id"]).values(
                **values, status_code=None, response_headers=None, response_body=None))
            return Reservation(int(row["id"]))
    if (row["method"], row["path"], row["request_hash"]) != (method, path[:500], request_hash):
        raise ApiProblem(422, f"Idempotency-Key {key!r} was already used for a different request "
                              f"({row['method']} {row['path']}); use a new key for a new request",
                         kind="idempotency-key-reused", title="Idempotency-Key reused",
                         errors=[field_error("Idempotency-Key", "already used with a different request",
                                             pointer="", where="header")])
    if row["status_code"] is None:
        raise ApiProblem(409, f"a request with Idempotency-Key {key!r} is still being processed; retry shortly",
                         kind="idempotency-key-in-use", title="Request in progress", headers={"Retry-After": "1"})
    headers = dict(row["response_headers"] or {})
    headers["Idempotent-Replayed"] = "true"
    return Response(content=(row["response_body"] or "").encode(), status_code=row["status_code"], headers=headers)


def complete(engine: Engine, reservation: Reservation, response: Response) -> None:
    """Store the response of a reserved request."""
    headers = {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}
    # a response carrying a secret shown once (a new API key) stores a copy without it
    body = bytes(getattr(response, "stored_body", response.body)).decode("utf-8", "replace")
    with engine.begin() as conn:
        conn.execute(update(idempotency_keys).where(idempotency_keys.c.id == reservation.row_id).values(
            status_code=response.status_code, response_headers=headers, response_body=body))


def release(engine: Engine, reservation: Reservation) -> None:
    """Forget a reservation whose outcome is not kept, so the retry runs."""
    with engine.begin() as conn:
        conn.execute(delete(idempotency_keys).where(idempotency_keys.c.id == reservation.row_id,
                                                    idempotency_keys.c.status_code.is_(None)))


def purge_expired(engine: Engine, now: datetime) -> int:
    with engine.begin() as conn:
        return conn.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at < now)).rowcount


def _aware(at: Any, now: datetime) -> datetime:
    return at.replace(tzinfo=now.tzinfo) if at.tzinfo is None and now.tzinfo is not None else at
