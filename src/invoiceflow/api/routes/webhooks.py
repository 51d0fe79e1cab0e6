"""Outbound webhook endpoints: create (the secret is shown once), list, change, delete, rotate the secret
(the new one shown once); their delivery log and manual redelivery.

A delivery is the "webhook.deliver" effect that carries one event to one endpoint, so its id is an effect
id and it also appears under /v1/effects; the delivery log adds each attempt's HTTP status and duration.
Redelivery is audited like an effect retry or replay, under the caller's name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import Depends, Query
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse

from invoiceflow.api.deps import Id, api_router, caller, ctx_of
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.schemas.common import Deleted
from invoiceflow.api.schemas.webhooks import (
    Delivery,
    Endpoint,
    EndpointCreated,
    EndpointIn,
    EndpointPatch,
    RotateSecretIn,
)
from invoiceflow.effects.model import STATUSES
from invoiceflow.store.db import reader
from invoiceflow.store.effects_tables import effects
from invoiceflow.store.webhook_tables import webhook_endpoints
from invoiceflow.webhooks.delivery import deliveries_query, delivery_log, delivery_view, redeliver
from invoiceflow.webhooks.endpoints import (
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    public,
    rotate_secret,
    update_endpoint,
)

router = api_router("webhooks")
DeliveryStatus = Literal[STATUSES]  # type: ignore[valid-type]


@router.get("/v1/webhook-endpoints", response_model=Page[Endpoint], dependencies=[allow("webhooks.read")],
            summary="Webhook endpoints, oldest first")
def list_webhook_endpoints(request: Request, page: PageParams = Depends()) -> dict[str, Any]:
    query = select(webhook_endpoints).where(webhook_endpoints.c.tenant_id == caller(request).tenant_id,
                                            webhook_endpoints.c.deleted_at.is_(None))
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, webhook_endpoints.c.id, "webhook-endpoints", page)
    return page_of([public(r) for r in rows], cursor)


@router.post("/v1/webhook-endpoints", response_model=EndpointCreated, status_code=201,
             dependencies=[allow("webhooks.write")], summary="Create an endpoint (its secret is shown only now)")
def create(body: EndpointIn, request: Request) -> JSONResponse:
    ctx, who = ctx_of(request), caller(request)
    with ctx.engine.begin() as conn:
        endpoint, secret = create_endpoint(conn, who.tenant_id, url=body.url, event_types=body.event_types,
                                           description=body.description, active=body.active, actor=who.member,
                                           at=ctx.clock.now())
    created = EndpointCreated(**endpoint, secret=secret).model_dump(mode="json")
    return JSONResponse(created, status_code=201, headers={"Location": f"/v1/webhook-endpoints/{endpoint['id']}"})


@router.get("/v1/webhook-endpoints/{endpoint_id}", response_model=Endpoint, dependencies=[allow("webhooks.read")],
            summary="One endpoint (without its secret)")
def get(endpoint_id: Id, request: Request) -> dict[str, Any]:
    with reader(ctx_of(request).engine).connect() as conn:
        return get_endpoint(conn, caller(request).tenant_id, endpoint_id)


@router.patch("/v1/webhook-endpoints/{endpoint_id}", response_model=Endpoint, dependencies=[allow("webhooks.write")],
              summary="Change an endpoint's URL, event types, description or active flag")
def patch(endpoint_id: Id, request: Request, body: EndpointPatch | None = None) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    changes = body.model_dump(exclude_unset=True) if body else {}
    with ctx.engine.begin() as conn:
        return update_endpoint(conn, who.tenant_id, endpoint_id, changes, actor=who.member, at=ctx.clock.now())


@router.delete("/v1/webhook-endpoints/{endpoint_id}", response_model=Deleted, dependencies=[allow("webhooks.write")],
               summary="Delete an endpoint (deliveries still waiting for it are skipped)")
def delete(endpoint_id: Id, request: Request) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    with ctx.engine.begin() as conn:
        delete_endpoint(conn, who.tenant_id, endpoint_id, actor=who.member, at=ctx.clock.now())
    return {"ok": True}


@router.post("/v1/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=EndpointCreated,
             dependencies=[allow("webhooks.write")],
             summary="A new signing secret (shown only now); the old one also signs during the grace period")
def rotate_webhook_secret(endpoint_id: Id, request: Request, body: RotateSecretIn | None = None) -> dict[str, Any]:
    ctx, who, body = ctx_of(request), caller(request), body or RotateSecretIn()
    grace = timedelta(seconds=body.grace_seconds)
    with ctx.engine.begin() as conn:
        endpoint, secret = rotate_secret(conn, who.tenant_id, endpoint_id, grace=grace, reason=body.reason,
                                         actor=who.member, at=ctx.clock.now())
    return {**endpoint, "secret": secret}


@router.get("/v1/webhook-endpoints/{endpoint_id}/deliveries", response_model=Page[Delivery],
            dependencies=[allow("webhooks.read")], summary="The delivery log: deliveries newest first, every attempt")
def list_webhook_deliveries(endpoint_id: Id, request: Request, page: PageParams = Depends(),
               status: DeliveryStatus | None = Query(None)) -> dict[str, Any]:
    tid = caller(request).tenant_id
    query = deliveries_query(tid, endpoint_id)
    if status:
        query = query.where(effects.c.status == status)
    with reader(ctx_of(request).engine).connect() as conn:
        get_endpoint(conn, tid, endpoint_id)
        rows, cursor = fetch_page(conn, query, effects.c.id, f"deliveries-{endpoint_id}", page, newest_first=True)
        log = delivery_log(conn, tid, [int(r["id"]) for r in rows])
    return page_of([delivery_view(r, log[int(r["id"])]) for r in rows], cursor)


@router.post("/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver", response_model=Delivery,
             dependencies=[allow("webhooks.write")], summary="Send a delivery again now")
def redeliver_webhook_delivery(endpoint_id: Id, delivery_id: Id, request: Request) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    with ctx.engine.begin() as conn:
        get_endpoint(conn, who.tenant_id, endpoint_id)
        redeliver(conn, who.tenant_id, endpoint_id, delivery_id, actor=who.member, at=ctx.clock.now())
        row = conn.execute(deliveries_query(who.tenant_id, endpoint_id).where(effects.c.id == delivery_id)
                           ).mappings().one()
        return delivery_view(row, delivery_log(conn, who.tenant_id, [delivery_id])[delivery_id])
