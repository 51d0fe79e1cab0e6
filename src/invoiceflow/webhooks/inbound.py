"""Receiving an inbound event: verify, store, check against the schema, record drift, process, or park.

The order matters. The signature is checked on the raw bytes before anything is parsed, so a forgery
costs one HMAC and writes one short rejection row (no payload). A signed event is stored under its
(tenant, source, event id) before it is processed, in the same transaction as the processing and the drift
records: a second delivery of an accepted event finds the row and is answered "duplicate" without running
anything, and concurrent deliveries of one event serialise on that row.

An event that misses required fields, or whose processing is refused (an unknown customer, a missing
meter, an invoice not yet posted), is parked with the reason: stored, answered 422, and replayable with
`replay` once the mapping or the data is fixed. Redelivering a parked event processes it again as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.audit.log import append_entry
from invoiceflow.errors import ConflictError, InvoiceflowError, NotFound
from invoiceflow.store.webhook_tables import inbound_events
from invoiceflow.webhooks.config import SourceConfig, load_config
from invoiceflow.webhooks.drift import record_drift
from invoiceflow.webhooks.processing import Context, errors_of, processor_for
from invoiceflow.webhooks.schemas import Checked, apply_mapping, check, load_schema
from invoiceflow.webhooks.signatures import SignatureError, verify
from invoiceflow.webhooks.sources import SOURCES, EventKind

ACCEPTED, PARKED, REJECTED, REPLAYED, DUPLICATE = "accepted", "parked", "rejected", "replayed", "duplicate"
DONE = (ACCEPTED, REPLAYED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery or replay came to; `http_status` is what the sender is answered."""

    status: str
    http_status: int
    detail: str
    event_id: str | None = None
    id: int | None = None
    event_type: str | None = None
    schema_version: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    unknown_fields: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None


def source_config(engine: Engine, *, tenant: str | None, source: str, at: datetime) -> SourceConfig:
    """The configuration a delivery for `tenant` and `source` is verified with, or SignatureError."""
    with engine.connect() as conn:
        config = load_config(conn, tenant, source, at=at) if tenant else None
    if config is None or not config.secrets:
        raise SignatureError("unconfigured", f"no signing secret is configured for source {source} in tenant "
                                             f"{tenant!r} (or there is no such tenant); pass ?tenant=<code>")
    if not config.active:
        raise SignatureError("inactive", f"source {source} is disabled in this tenant")
    return config


def verify_delivery(engine: Engine, config: SourceConfig, *, header: str | None, body: bytes, at: datetime) -> None:
    """Check the signature of `body`; a refusal is logged (without the body) and raised as SignatureError."""
    try:
        verify(header, body, config.secrets, now=at.timestamp(), tolerance=config.tolerance,
               name=SOURCES[config.source].header)
    except SignatureError as exc:
        with engine.begin() as conn:
            conn.execute(insert(inbound_events).values(
                tenant_id=config.tenant_id, source=config.source, received_at=at, signature_ok=False,
                status=REJECTED, error=f"signature {exc.reason}: {exc.detail}", attempts=0))
        raise


def receive(engine: Engine, config: SourceConfig, body: bytes, *, at: datetime) -> Outcome:
    """Store and process one authenticated delivery."""
    try:
        doc = json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        return _refuse(engine, config, at, 400, f"the body is not valid JSON ({exc})", "")
    if not isinstance(doc, dict):
        return _refuse(engine, config, at, 422, "the body must be a JSON object", "")
    event_id = doc.get("id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 200:
        return _refuse(engine, config, at, 422, "the event needs an id: a string of 1 to 200 characters", "id",
                       payload=doc)
    with engine.begin() as conn:
        row_id, status = _claim(conn, config, event_id, doc, at)
        if status in DONE:
            return Outcome(DUPLICATE, 200, f"event {event_id} was already processed ({status}); nothing was done",
                           event_id, row_id, doc.get("type") if isinstance(doc.get("type"), str) else None)
        return process_stored(conn, config, row_id, doc, at=at, final=ACCEPTED)


def replay(engine: Engine, tenant_id: int, source: str, event_id: str, *, actor: str, at: datetime) -> Outcome:
    """Process a parked (or rejected) event again with the current mapping and data; audited."""
    with engine.begin() as conn:
        row = conn.execute(select(inbound_events).where(
            inbound_events.c.tenant_id == tenant_id, inbound_events.c.source == source,
            inbound_events.c.event_id == event_id).with_for_update()).mappings().first()
        if row is None:
            raise NotFound(f"{source} event {event_id!r} does not exist in this tenant")
        if row["status"] in DONE:
            raise ConflictError(f"{source} event {event_id!r} was already processed ({row['status']}); "
                                "only parked or rejected events can be replayed")
        config = load_config(conn, tenant_id, source, at=at)
        if row["payload"] is None or config is None:
            raise ConflictError(f"{source} event {event_id!r} was refused before its payload was read; ask the "
                                "sender to deliver it again")
        append_entry(conn, tenant_id=tenant_id, actor=actor, action="integration.event_replay_requested",
                     object_type="inbound_event", object_id=row["id"], at=at,
                     payload={"source": source, "event_id": event_id, "previous_status": row["status"],
                              "previous_error": row["error"], "mapping_version": config.mapping_version})
        return process_stored(conn, config, int(row["id"]), row["payload"], at=at, final=REPLAYED)


def process_stored(conn: Connection, config: SourceConfig, row_id: int, doc: dict[str, Any], *, at: datetime,
                   final: str) -> Outcome:
    """Check, record drift and process a stored event in `conn`'s transaction; the row says the outcome."""
    source, event_id, event_type = SOURCES[config.source], doc["id"], doc.get("type")
    kind: EventKind | None = source.kind_of(event_type)
    if kind is None:
        detail = f"unsupported event type {event_type!r} (supported: {', '.join(sorted(source.kinds))})"
        return _settle(conn, row_id, REJECTED, 422, detail, doc, errors=[_err("type", detail)])
    schema = source.schema_name(kind, doc)
    try:
        load_schema(schema)
    except FileNotFoundError:
        detail = f"schema version {doc.get('schema_version')!r} is not supported (schema {schema} does not exist)"
        return _settle(conn, row_id, PARKED, 422, detail, doc, errors=[_err("schema_version", detail)],
                       config=config, at=at)
    mapped = apply_mapping(doc, kind.record, config.mapping)
    checked = check(schema, mapped)
    record_drift(conn, config.tenant_id, config.source, checked, event_id=event_id, at=at)
    unknown = [path for path, _ in checked.unknown]
    if checked.problems:
        errors = [_with_hint(p.as_error(), checked, kind.record, config.source) for p in checked.problems]
        names = ", ".join(e["field"] or "body" for e in errors)
        detail = f"the event does not match {schema}: {names}; it is parked for replay once the mapping is fixed"
        return _settle(conn, row_id, PARKED, 422, detail, doc, errors=errors, unknown=unknown, schema=schema,
                       config=config, at=at)
    ctx = Context(config.tenant_id, config.tenant, config.source, at)
    try:
        with conn.begin_nested():
            processed = processor_for(config.source)(conn, ctx, mapped)
    except InvoiceflowError as exc:
        message, errors = errors_of(exc)
        return _settle(conn, row_id, PARKED, 422, f"the event could not be applied: {message}; it is parked for "
                       "replay once that is fixed", doc, errors=errors, unknown=unknown, schema=schema,
                       config=config, at=at)
    result = dict(processed.result)
    conn.execute(update(inbound_events).where(inbound_events.c.id == row_id).values(
        status=final, error=None, errors=None, result=result, processed_at=at, invoice_id=processed.invoice_id,
        amount=processed.amount, attempts=inbound_events.c.attempts + 1, schema_version=schema,
        unknown_fields=unknown or None))
    append_entry(conn, tenant_id=config.tenant_id, actor=ctx.actor, action="integration.event_processed",
                 object_type="inbound_event", object_id=row_id, at=at,
                 payload={"source": config.source, "event_id": event_id, "type": event_type, "status": final,
                          "result": result})
    return Outcome(final, 200, f"event {event_id} {final}", event_id, row_id, event_type, schema,
                   unknown_fields=unknown, result=result)


def _claim(conn: Connection, config: SourceConfig, event_id: str, doc: dict, at: datetime) -> tuple[int, str]:
    """The event's row, inserted or found and locked: (id, status before this delivery, or "new")."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    event_type = doc.get("type") if isinstance(doc.get("type"), str) else None
    new_id = conn.execute(dialect.insert(inbound_events).values(
        tenant_id=config.tenant_id, source=config.source, event_id=event_id, event_type=(event_type or "")[:64],
        received_at=at, signature_ok=True, payload=doc, status=PARKED, attempts=0,
    ).on_conflict_do_nothing(index_elements=["tenant_id", "source", "event_id"]).returning(inbound_events.c.id)
    ).scalar()
    if new_id is not None:
        return int(new_id), "new"
    row = conn.execute(select(inbound_events.c.id, inbound_events.c.status).where(
        inbound_events.c.tenant_id == config.tenant_id, inbound_events.c.source == config.source,
        inbound_events.c.event_id == event_id).with_for_update()).one()
    if row.status not in DONE:  # a redelivery of a parked event: process what the sender sends now
        conn.execute(update(inbound_events).where(inbound_events.c.id == row.id).values(
            payload=doc, received_at=at, event_type=(event_type or "")[:64]))
    return int(row.id), row.status


def _settle(conn: Connection, row_id: int, status: str, http_status: int, detail: str, doc: dict, *,
            errors: list[dict[str, Any]], unknown: list[str] | None = None, schema: str | None = None,
            config: SourceConfig | None = None, at: datetime | None = None) -> Outcome:
    conn.execute(update(inbound_events).where(inbound_events.c.id == row_id).values(
        status=status, error=detail, errors=errors, unknown_fields=unknown or None, schema_version=schema,
        attempts=inbound_events.c.attempts + 1))
    if status == PARKED and config is not None and at is not None:
        from invoiceflow.webhooks.outbound import emit

        emit(conn, config.tenant_id, "integration_event.parked", {
            "object": "inbound_event", "id": row_id, "source": config.source, "event_id": doc["id"],
            "type": doc.get("type"), "error": detail, "errors": errors}, at=at,
            event_id=f"evt_parked_{config.tenant_id}_{row_id}_{_attempts(conn, row_id)}")
    return Outcome(status, http_status, detail, doc["id"], row_id, doc.get("type"), schema, errors, unknown or [])


def _refuse(engine: Engine, config: SourceConfig, at: datetime, http_status: int, detail: str, field_: str,
            payload: Any = None) -> Outcome:
    """An authentic delivery that cannot be stored as an event (no JSON object, no id): logged, not parked."""
    with engine.begin() as conn:
        row_id = conn.execute(insert(inbound_events).values(
            tenant_id=config.tenant_id, source=config.source, received_at=at, signature_ok=True, status=REJECTED,
            payload=payload, error=detail, errors=[_err(field_, detail)], attempts=1).returning(inbound_events.c.id)
        ).scalar_one()
    return Outcome(REJECTED, http_status, detail, None, int(row_id), errors=[_err(field_, detail)])


def _with_hint(error: dict[str, Any], checked: Checked, record: str, source_name: str) -> dict[str, Any]:
    renamed = checked.renames.get(error["field"])
    if renamed:
        prefix = record + "."
        source, target = renamed.removeprefix(prefix), error["field"].removeprefix(prefix)
        error = {**error, "detail": f"{error['detail']}; the payload has {renamed!r} instead: if it was renamed, "
                                    f"map it with PUT /v1/integrations/{source_name}/mapping "
                                    f"{{\"fields\": {{\"{source}\": \"{target}\"}}}}"}
    return error


def _attempts(conn: Connection, row_id: int) -> int:
    return int(conn.execute(select(inbound_events.c.attempts).where(inbound_events.c.id == row_id)).scalar_one())


def _err(path: str, detail: str) -> dict[str, Any]:
    return {"field": path, "pointer": f"/{path}" if path else "", "in": "body", "detail": detail}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
