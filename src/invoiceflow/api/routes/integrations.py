"""Inbound integrations: CRM, PSA and payment-processor events, their configuration, mapping and drift.

Each source has its own routes (`/v1/integrations/crm/...`, `/psa/...`, `/payments/...`), so each documents
its own signature header and payload schema. `POST .../events` is called by the source, authenticated by
the HMAC signature of its body, not by an API key: `SignedRoute` verifies the signature header against the
secret the tenant configured (the tenant is named by `?tenant=<code>` in the URL given to the source) and
then acts with the pseudo-role `integration`, which the permission table grants `integrations.receive` and
no API key can hold. A request without the signature header is an ordinary API request: an API key is
authenticated as usual and refused with 403, since no API role may post events. The other routes are
ordinary API routes for the tenant's operators.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from invoiceflow.api.auth import Principal
from invoiceflow.api.deps import api_router, caller, ctx_of, not_found
from invoiceflow.api.etags import check_if_match, etag_of
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.problems import ApiProblem
from invoiceflow.api.routing import ApiRoute, problem_responses
from invoiceflow.api.schemas.webhooks import (
    DriftReport,
    InboundEvent,
    InboundEventDetail,
    Integration,
    IntegrationIn,
    Mapping,
    MappingIn,
    Receipt,
)
from invoiceflow.store.db import reader
from invoiceflow.store.webhook_tables import inbound_events
from invoiceflow.webhooks.config import configure, locked_source, read_source, set_mapping, view
from invoiceflow.webhooks.drift import drift_report
from invoiceflow.webhooks.inbound import Outcome, receive, replay, source_config, verify_delivery
from invoiceflow.webhooks.schemas import load_schema
from invoiceflow.webhooks.signatures import SignatureError
from invoiceflow.webhooks.sources import SOURCES

router = api_router("integrations")
EventStatus = Literal["accepted", "parked", "rejected", "replayed"]
EventId = Path(min_length=1, max_length=200, description="The sender's event id.")


class SignedRoute(ApiRoute):
    """A route authenticated by the source's HMAC signature header instead of a bearer credential."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any):
        self.source: str = kwargs["openapi_extra"]["x-integration-source"]  # read by get_route_handler
        super().__init__(path, endpoint, **kwargs)
        self.openapi_extra["parameters"] = [p for p in self.openapi_extra.get("parameters", [])
                                            if p.get("name") != "Idempotency-Key"]
        self.openapi_extra["security"] = []

    def get_route_handler(self):
        bearer = super().get_route_handler()  # no signature header: an API request, refused by the permission
        inner = APIRoute.get_route_handler(self)
        header = SOURCES[self.source].header

        async def signed(request: Request) -> Response:
            if header.lower() not in request.headers:
                return await bearer(request)
            ctx, at = ctx_of(request), ctx_of(request).clock.now()
            body = await request.body()
            if len(body) > ctx.settings.max_body_bytes:
                raise ApiProblem(413, f"request body over {ctx.settings.max_body_bytes} bytes")
            try:
                config = await run_in_threadpool(source_config, ctx.engine, tenant=request.query_params.get("tenant"),
                                                 source=self.source, at=at)
                ctx.limiter.take(config.tenant_id)
                await run_in_threadpool(verify_delivery, ctx.engine, config, header=request.headers.get(header),
                                        body=body, at=at)
            except SignatureError as exc:
                raise ApiProblem(401, exc.detail, kind="signature-invalid", title="Signature not accepted",
                                 reason=exc.reason, headers={"WWW-Authenticate": f'{header} realm="invoiceflow"'})
            request.state.principal = Principal(config.tenant, config.tenant_id, f"integration:{self.source}",
                                                frozenset({"integration"}), f"signature:{self.source}")
            request.state.integration = config
            return await inner(request)

        return signed


def _receipt(outcome: Outcome) -> Response:
    """200 with a receipt, or the problem the sender gets (400 not JSON, 422 parked or rejected)."""
    if outcome.http_status == 200:
        fields = {name: getattr(outcome, name) for name in Outcome.__slots__}  # type: ignore[attr-defined]
        return JSONResponse(Receipt(**fields).model_dump(mode="json"))
    kind = "malformed-json" if outcome.http_status == 400 else f"event-{outcome.status}"
    raise ApiProblem(outcome.http_status, outcome.detail, kind=kind, errors=outcome.errors,
                     event_status=outcome.status, event_id=outcome.event_id, id=outcome.id)


def _request_schema(source: str) -> dict[str, Any]:
    names = sorted({f"{kind.schema}-v1" for kind in SOURCES[source].kinds.values()})
    schemas = [{k: v for k, v in load_schema(n).items() if not k.startswith("$")} for n in names]
    return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}


def _add_routes(source: str) -> None:
    base, header = f"/v1/integrations/{source}", SOURCES[source].header

    async def receive_event(request: Request) -> Response:
        ctx = ctx_of(request)
        outcome = await run_in_threadpool(receive, ctx.engine, request.state.integration, await request.body(),
                                          at=ctx.clock.now())
        return _receipt(outcome)

    router.add_api_route(
        f"{base}/events", receive_event, methods=["POST"], route_class_override=SignedRoute,
        response_model=Receipt, dependencies=[allow("integrations.receive")], responses=problem_responses(400),
        summary=f"Receive a signed {source} event (called by the source, not with an API key)",
        description=f"Signed with `{header}: t=<unix>,v1=<hex hmac_sha256(secret, t + '.' + body)>`; see "
                    "docs/webhooks.md. 200 accepted or duplicate; 422 parked (replayable) or rejected.",
        openapi_extra={"x-integration-source": source, "parameters": [
            {"name": header, "in": "header", "required": True, "schema": {"type": "string", "maxLength": 2048},
             "description": "t=<unix seconds>,v1=<hex HMAC-SHA256>"},
            {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 64},
             "description": "The tenant's code."}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _request_schema(source)}}}})

    @router.get(base, response_model=Integration, dependencies=[allow("integrations.read")],
                summary=f"The {source} integration's configuration (never its secret)")
    def get_integration(request: Request) -> dict[str, Any]:
        ctx, who = ctx_of(request), caller(request)
        with reader(ctx.engine).connect() as conn:
            return view(read_source(conn, who.tenant_id, source), source, who.tenant, at=ctx.clock.now())

    @router.put(base, response_model=Integration, dependencies=[allow("integrations.configure")],
                summary=f"Set the {source} signing secret, tolerance or active flag")
    def put_integration(body: IntegrationIn, request: Request) -> dict[str, Any]:
        ctx, who = ctx_of(request), caller(request)
        at = ctx.clock.now()
        with ctx.engine.begin() as conn:
            row = configure(conn, who.tenant_id, source, secret=body.secret, tolerance=body.tolerance_seconds,
                            active=body.active, actor=who.member, at=at)
        return view(row, source, who.tenant, at=at)

    @router.get(f"{base}/mapping", response_model=Mapping, dependencies=[allow("integrations.read")],
                summary=f"The {source} field mapping (ETag)")
    def get_mapping(request: Request, response: Response) -> dict[str, Any]:
        who = caller(request)
        with reader(ctx_of(request).engine).connect() as conn:
            row = read_source(conn, who.tenant_id, source) or {"mapping": {}, "mapping_version": 0}
        response.headers["ETag"] = _mapping_etag(source, row)
        return {"source": source, "fields": row["mapping"] or {}, "version": int(row["mapping_version"])}

    @router.put(f"{base}/mapping", response_model=Mapping, dependencies=[allow("integrations.write")],
                responses=problem_responses(412, 428), summary=f"Replace the {source} field mapping (If-Match required)")
    def put_mapping(body: MappingIn, request: Request, response: Response) -> dict[str, Any]:
        ctx, who = ctx_of(request), caller(request)
        at = ctx.clock.now()
        with ctx.engine.begin() as conn:
            row = locked_source(conn, who.tenant_id, source, who.member, at)
            check_if_match(request, _mapping_etag(source, row), required=True)
            row = set_mapping(conn, who.tenant_id, source, body.fields, actor=who.member, at=at, row=row)
        response.headers["ETag"] = _mapping_etag(source, row)
        return {"source": source, "fields": row["mapping"], "version": int(row["mapping_version"])}

    @router.get(f"{base}/drift", response_model=DriftReport, dependencies=[allow("integrations.read")],
                summary=f"Schema drift of {source} events: unknown, missing and renamed fields")
    def get_drift(request: Request) -> dict[str, Any]:
        with reader(ctx_of(request).engine).connect() as conn:
            return drift_report(conn, caller(request).tenant_id, source)

    @router.get(f"{base}/events", response_model=Page[InboundEvent], dependencies=[allow("integrations.read")],
                summary=f"Received {source} events, newest first")
    def list_events(request: Request, page: PageParams = Depends(),
                    status: EventStatus | None = Query(None)) -> dict[str, Any]:
        columns = [c for c in inbound_events.c if c.name != "payload"]
        query = select(*columns).where(inbound_events.c.tenant_id == caller(request).tenant_id,
                                       inbound_events.c.source == source)
        if status:
            query = query.where(inbound_events.c.status == status)
        with reader(ctx_of(request).engine).connect() as conn:
            rows, cursor = fetch_page(conn, query, inbound_events.c.id, f"inbound-{source}", page, newest_first=True)
        return page_of(rows, cursor)

    @router.get(f"{base}/events/{{event_id}}", response_model=InboundEventDetail,
                dependencies=[allow("integrations.read")], summary=f"One {source} event with its payload")
    def get_event(request: Request, event_id: str = EventId) -> dict[str, Any]:
        with reader(ctx_of(request).engine).connect() as conn:
            row = conn.execute(select(inbound_events).where(
                inbound_events.c.tenant_id == caller(request).tenant_id, inbound_events.c.source == source,
                inbound_events.c.event_id == event_id)).mappings().first()
        if row is None:
            raise not_found(f"{source} event", event_id)
        return dict(row)

    @router.post(f"{base}/events/{{event_id}}/replay", response_model=Receipt,
                 dependencies=[allow("integrations.write")],
                 summary=f"Process a parked {source} event again (after fixing the mapping or the data)")
    def replay_event(request: Request, event_id: str = EventId) -> Response:
        ctx, who = ctx_of(request), caller(request)
        return _receipt(replay(ctx.engine, who.tenant_id, source, event_id, actor=who.member, at=ctx.clock.now()))


def _mapping_etag(source: str, row: dict[str, Any]) -> str:
    return etag_of("integration-mapping", source, int(row.get("mapping_version") or 0))


for _source in SOURCES:
    _add_routes(_source)
