"""Review cases per queue: list, show, assign, resolve, approve an override; release KPIs.

The case services check the queue's role, reasons and the second-person rule for overrides; the caller's
member name is the actor, so a person cannot approve the override they asked for through the API either.
Assign needs `If-Match` (a case's ETag changes whenever its status, assignee, queue or priority do), so
two people assigning at once cannot silently overwrite each other; resolve honours it when sent.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Literal

from fastapi import Depends, Query
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from invoiceflow.api.deps import Id, api_router, caller, ctx_of, not_found, utc_now
from invoiceflow.api.etags import check_if_match, etag_of
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.routing import problem_responses
from invoiceflow.api.schemas.review import (
    ApproveOverrideIn,
    AssignIn,
    Case,
    CaseOutcome,
    CaseSummary,
    Queue,
    ResolveIn,
)
from invoiceflow.review import approve_override, assign_case, case_detail, release_kpis, resolve_case
from invoiceflow.review.cases import ACTIVE
from invoiceflow.review.queries import with_age
from invoiceflow.review.resolve import CaseRefused
from invoiceflow.store.db import reader
from invoiceflow.store.review_tables import findings, review_cases

router = api_router("review")


class _Joined:
    """Lets a service that opens `db.begin()` run inside a transaction we already hold (with the row locked)."""

    def __init__(self, conn):
        self.conn = conn

    def begin(self):
        return nullcontext(self.conn)


def case_etag(row: dict[str, Any]) -> str:
    return etag_of("case", row["id"], row["status"], row["assignee"], row["queue"], row["priority"],
                   row["escalations"], row["override_requested_by"])


@router.get("/v1/cases", response_model=Page[CaseSummary], dependencies=[allow("cases.read")],
            summary="Cases of a queue (or all), oldest first")
def list_cases(request: Request, page: PageParams = Depends(), queue: Queue | None = Query(None),
               status: Literal["open", "override_pending", "resolved", "all"] = Query("open"),
               case_type: str | None = Query(None, max_length=32)) -> dict[str, Any]:
    ctx, tid = ctx_of(request), caller(request).tenant_id
    held = (select(findings.c.case_id, func.count(func.distinct(findings.c.invoice_id)).label("invoices"))
            .where(findings.c.tenant_id == tid, findings.c.case_id.is_not(None)).group_by(findings.c.case_id)
            .subquery())
    query = (select(review_cases, held.c.invoices).outerjoin(held, held.c.case_id == review_cases.c.id)
             .where(review_cases.c.tenant_id == tid))
    if queue:
        query = query.where(review_cases.c.queue == queue)
    if status == "open":
        query = query.where(review_cases.c.status.in_(ACTIVE))
    elif status != "all":
        query = query.where(review_cases.c.status == status)
    if case_type:
        query = query.where(review_cases.c.case_type == case_type)
    with reader(ctx.engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, review_cases.c.id, "cases", page)
    now = utc_now(ctx)
    return page_of([with_age(r, now) for r in rows], cursor)


@router.get("/v1/queues/{queue}/cases", response_model=Page[CaseSummary], dependencies=[allow("cases.read")],
            summary="Open cases of one queue")
def list_queue_cases(queue: Queue, request: Request, page: PageParams = Depends()) -> dict[str, Any]:
    return list_cases(request, page, queue=queue, status="open", case_type=None)


@router.get("/v1/cases/{case_id}", response_model=Case, dependencies=[allow("cases.read")],
            summary="One case with its findings and held invoices (ETag)")
def get_case(case_id: Id, request: Request, response: Response) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    detail = case_detail(ctx.engine, case_id, tenant=who.tenant, now=utc_now(ctx))
    response.headers["ETag"] = case_etag(detail)
    held = detail.pop("invoices")
    return {**detail, "held_invoices": held, "invoices": len(held)}


@router.post("/v1/cases/{case_id}/assign", response_model=Case, dependencies=[allow("cases.work")],
             responses=problem_responses(412, 428), summary="Assign a case (If-Match required)")
def assign_review_case(case_id: Id, body: AssignIn, request: Request, response: Response) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    with ctx.engine.begin() as conn:
        check_if_match(request, case_etag(_locked(conn, who.tenant_id, case_id)), required=True)
        assign_case(_Joined(conn), who.tenant, case_id, assignee=body.to, actor=who.member, clock=ctx.clock)
    return get_case(case_id, request, response)


@router.post("/v1/cases/{case_id}/resolve", response_model=CaseOutcome, dependencies=[allow("cases.work")],
             responses=problem_responses(412), summary="Revalidate, override, void or escalate a case")
def resolve_review_case(case_id: Id, body: ResolveIn, request: Request) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    return _guarded(request, case_id, lambda db: resolve_case(
        db, who.tenant, case_id, body.action, actor=who.member, reason=body.reason, clock=ctx.clock,
        to_queue=body.to_queue))


@router.post("/v1/cases/{case_id}/approve-override", response_model=CaseOutcome,
             dependencies=[allow("cases.approve_override")], responses=problem_responses(412),
             summary="Second person's approval of a pending override")
def approve_case_override(case_id: Id, request: Request, body: ApproveOverrideIn | None = None) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    return _guarded(request, case_id, lambda db: approve_override(
        db, who.tenant, case_id, actor=who.member, reason=body.reason if body else None, clock=ctx.clock))


@router.get("/v1/review/kpis", response_model=dict[str, Any], dependencies=[allow("reports.read")],
            summary="Release KPIs")
def get_review_kpis(request: Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    return release_kpis(ctx.engine, tenant=caller(request).tenant, now=utc_now(ctx))


def _locked(conn, tenant_id: int, case_id: int) -> dict[str, Any]:
    row = conn.execute(select(review_cases).where(review_cases.c.tenant_id == tenant_id,
                                                  review_cases.c.id == case_id).with_for_update()).mappings().first()
    if row is None:
        raise not_found("case", case_id)
    return dict(row)


def _guarded(request: Request, case_id: int, act) -> dict[str, Any]:
    """Run a case service in our transaction after the If-Match check; a refusal's audit entry still commits."""
    ctx, who = ctx_of(request), caller(request)
    refused: CaseRefused | None = None
    with ctx.engine.begin() as conn:
        check_if_match(request, case_etag(_locked(conn, who.tenant_id, case_id)), required=False)
        try:
            outcome = act(_Joined(conn))
        except CaseRefused as exc:
            refused = exc
    if refused is not None:
        raise refused
    return {"case_id": outcome.case_id, "action": outcome.action, "status": outcome.status,
            "message": outcome.message, "invoices": {str(k): v for k, v in outcome.invoices.items()},
            "remaining": list(outcome.remaining)}
