"""Usage events: one at a time, in batches of up to 10,000 (all or nothing), and reads.

Both writes go through `metering.ingest_events` in one transaction, so the rules of docs/metering.md hold
over HTTP too: idempotent by transaction id (a resent event is counted as a duplicate, never stored
twice), every problem of a batch reported at once with the event's index (`/events/3/timestamp`), and a
batch with any bad event writes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse

from invoiceflow.api.deps import api_router, caller, ctx_of, not_found
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.problems import ApiProblem, field_error, from_domain_problems
from invoiceflow.api.context import MAX_BATCH
from invoiceflow.api.schemas.usage import BATCH, IngestResult, UsageEvent, UsageEventIn, batch_schema, without_nulls
from invoiceflow.errors import IngestError
from invoiceflow.metering.events import QUANTITY_SCALE, timestamp_micros
from invoiceflow.metering.ingest import IngestReport, ingest_events
from invoiceflow.rating.periods import to_epoch_micros
from invoiceflow.store.db import reader
from invoiceflow.store.tables import customers, meters, usage_events

router = api_router("usage")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LABEL = re.compile(r"^events\[(\d+)\]")


@router.post("/v1/usage-events/batch", response_model=IngestResult, dependencies=[allow("usage.write")],
             summary="Ingest a batch of usage events (all or nothing)",
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"application/json": {"schema": batch_schema()}}}})
async def ingest_batch(request: Request) -> Any:
    """Decoded from the raw bytes, events validated by the ingestion itself (see schemas/usage.py); every
    problem is named by its JSON pointer."""
    events = _batch_events(await request.body())
    return _report(await run_in_threadpool(_ingest, request, events, lambda i, _tid: f"events[{i}]"))


@router.post("/v1/usage-events", response_model=IngestResult, status_code=201, dependencies=[allow("usage.write")],
             responses={200: {"description": "Already ingested (a duplicate): nothing written",
                              "model": IngestResult}}, summary="Ingest one usage event")
def ingest_one(event: UsageEventIn, request: Request) -> Any:
    report = _ingest(request, [without_nulls(dict(event))], lambda _i, _tid: "event")
    if report.inserted or report.parked:
        return _report(report)
    return JSONResponse(IngestResult(**_report(report)).model_dump(mode="json"), status_code=200)


@router.get("/v1/usage-events", response_model=Page[UsageEvent], dependencies=[allow("usage.read")])
def list_usage_events(request: Request, page: PageParams = Depends(),
               customer: str | None = Query(None, max_length=64), metric: str | None = Query(None, max_length=64),
               start: datetime | None = Query(None, alias="from", description="Events at or after (ISO 8601)."),
               end: datetime | None = Query(None, alias="to", description="Events before (ISO 8601)."),
               late: bool | None = Query(None)) -> dict[str, Any]:
    query = _query(caller(request).tenant_id)
    if customer:
        query = query.where(customers.c.code == customer)
    if metric:
        query = query.where(meters.c.code == metric)
    for moment, field, op in ((start, "from", "ge"), (end, "to", "lt")):
        if moment is not None:
            micros = _micros(moment, field)
            query = query.where(usage_events.c.ts >= micros if op == "ge" else usage_events.c.ts < micros)
    if late is not None:
        query = query.where(usage_events.c.late == int(late))
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, usage_events.c.id, "usage_events", page)
    return page_of([_shape(r) for r in rows], cursor)


@router.get("/v1/usage-events/{transaction_id}", response_model=UsageEvent, dependencies=[allow("usage.read")])
def get_usage_event(transaction_id: str, request: Request) -> dict[str, Any]:
    with reader(ctx_of(request).engine).connect() as conn:
        row = conn.execute(_query(caller(request).tenant_id)
                           .where(usage_events.c.transaction_id == transaction_id)).mappings().first()
    if row is None:
        raise not_found("usage event", transaction_id)
    return _shape(dict(row))


def _batch_events(raw: bytes) -> list[dict[str, Any]]:
    """The events of a batch body. A well-formed envelope is taken as decoded; anything else is handed to
    the envelope's schema, which names what is wrong exactly as every other endpoint would."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from None
    events = body.get("events") if type(body) is dict and len(body) == 1 else None
    if type(events) is list and 1 <= len(events) <= MAX_BATCH and all(type(e) is dict for e in events):
        return events
    try:
        BATCH.validate_python(body)
    except PydanticValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    raise AssertionError("a batch envelope the fast check refused passed its schema")  # pragma: no cover


def _ingest(request: Request, events: list[dict[str, Any]], label) -> IngestReport:
    ctx, who = ctx_of(request), caller(request)
    try:
        with ctx.engine.begin() as conn:
            return ingest_events(conn, who.tenant_id, events, record_label=label,
                                 ingested_at_micros=to_epoch_micros(ctx.clock.now()))
    except IngestError as exc:
        errors = from_domain_problems(exc.problems, record_pointer=_pointer)
        raise ApiProblem(422, f"{len(exc.problems)} problem(s) in the events; nothing was written",
                         kind="invalid-usage", errors=errors) from None


def _pointer(record: str) -> str | None:
    match = _LABEL.match(record)
    if match:
        return f"/events/{match.group(1)}"
    return "" if record == "event" else None


def _report(report: IngestReport) -> dict[str, Any]:
    return {"received": report.received, "inserted": report.inserted, "duplicates": report.duplicates,
            "late": report.late, "parked": report.parked, "late_samples": list(report.late_samples),
            "by_meter": dict(report.by_meter), "parked_accounts": dict(report.parked_accounts)}


def _query(tenant_id: int):
    return (select(usage_events, customers.c.code.label("customer"), meters.c.code.label("metric"))
            .join(customers, customers.c.id == usage_events.c.customer_id)
            .join(meters, meters.c.id == usage_events.c.meter_id).where(usage_events.c.tenant_id == tenant_id))


def _micros(moment: datetime, field: str) -> int:
    if moment.tzinfo is None:
        raise ApiProblem(422, f"{field} needs a UTC offset or Z",
                         errors=[field_error(field, "needs a UTC offset or Z", pointer=field, where="query")])
    return timestamp_micros(moment)


def _iso(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).isoformat().replace("+00:00", "Z")


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    props = row.get("properties")
    return {**row, "timestamp": _iso(row["ts"]), "ingested_at": _iso(row["ingested_at"]),
            "quantity": format(Decimal(row["quantity"]) / QUANTITY_SCALE, "f"), "late": bool(row["late"]),
            "properties": orjson.loads(props) if props else None}
