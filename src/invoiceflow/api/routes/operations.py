"""Operations: audit-log verification and the effects outbox (list, show, retry, replay).

Retry and replay run in one transaction with the effect's row locked (effects/operations.py), and both are
audited under the caller's member name. Verification re-walks only the caller's tenant's chain.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, Query
from sqlalchemy import select
from starlette.requests import Request

from invoiceflow.api.deps import Id, api_router, caller, ctx_of
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.schemas.operations import AuditVerification, Effect, EffectDetail, ReplayIn
from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.effects.model import STATUSES, effect_view
from invoiceflow.effects import operations as effect_operations
from invoiceflow.effects.outbox import get_effect, list_attempts
from invoiceflow.store.db import reader
from invoiceflow.store.effects_tables import effects

router = api_router("operations")
EffectStatus = Literal[STATUSES]  # type: ignore[valid-type]


@router.get("/v1/audit/verify", response_model=AuditVerification, dependencies=[allow("audit.read")],
            summary="Re-walk this tenant's hash-chained audit log")
def verify_audit(request: Request) -> dict[str, Any]:
    report = verify_audit_log(ctx_of(request).engine, tenant=caller(request).tenant)
    return {"tenant": report.tenant, "ok": report.ok, "entries": report.entries, "head_hash": report.head_hash,
            "problems": [{"sequence": p.sequence, "kind": p.kind, "message": p.message} for p in report.problems]}


@router.get("/v1/effects", response_model=Page[Effect], dependencies=[allow("effects.read")],
            summary="Effects, newest first")
def list_effects(request: Request, page: PageParams = Depends(), status: EffectStatus | None = Query(None),
                 kind: str | None = Query(None, max_length=64)) -> dict[str, Any]:
    query = select(effects).where(effects.c.tenant_id == caller(request).tenant_id)
    if status:
        query = query.where(effects.c.status == status)
    if kind:
        query = query.where(effects.c.kind == kind)
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, effects.c.id, "effects", page, newest_first=True)
    return page_of([effect_view(r).as_dict() for r in rows], cursor)


@router.get("/v1/effects/{effect_id}", response_model=EffectDetail, dependencies=[allow("effects.read")],
            summary="One effect with its attempt log")
def get(effect_id: Id, request: Request) -> dict[str, Any]:
    tid = caller(request).tenant_id
    with reader(ctx_of(request).engine).connect() as conn:
        effect = get_effect(conn, tid, effect_id)
        attempts = list_attempts(conn, tid, effect_id)
    return {**effect.as_dict(), "attempt_log": [a.as_dict() for a in attempts]}


@router.post("/v1/effects/{effect_id}/retry", response_model=Effect, dependencies=[allow("effects.write")],
             summary="Make a pending or dead effect due now")
def retry_effect(effect_id: Id, request: Request) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    with ctx.engine.begin() as conn:
        return effect_operations.retry_effect(conn, who.tenant_id, effect_id, at=ctx.clock.now(), actor=who.member).as_dict()


@router.post("/v1/effects/{effect_id}/replay", response_model=Effect, dependencies=[allow("effects.write")],
             summary="Run a dead (or, with force, succeeded) effect again from attempt 1")
def replay_effect(effect_id: Id, request: Request, body: ReplayIn | None = None) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    with ctx.engine.begin() as conn:
        return effect_operations.replay_effect(conn, who.tenant_id, effect_id, at=ctx.clock.now(), actor=who.member,
                             force=bool(body and body.force)).as_dict()
