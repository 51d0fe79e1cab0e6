"""Invoices and credit notes: list, show, history, lifecycle actions, and credit notes raised by finance.

Actions go through the same services as the CLI: `validate` runs the current policy's gates through
`review.release` (findings recorded, cases opened), the others through `lifecycle.transition`, which
enforces the state machine, approval levels and segregation of duties for the caller's member name. A
refused action answers 403 (who) or 409 (state) and is recorded in the audit log like any refusal.

`POST /v1/invoices/{id}/credit-notes` raises a draft credit note through `lifecycle.credit_notes` (201);
the same `reference` again returns that credit note with 200, and a refused request, like a replay, writes
nothing. The draft then takes the lifecycle actions under /v1/credit-notes like any other.

`If-Match` is optional here: when sent, the action runs only if the document's ETag is unchanged, checked
with the row locked in the action's own transaction.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Body, Depends, Query
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from invoiceflow.api.deps import Id, api_router, caller, ctx_of, not_found
from invoiceflow.api.etags import check_if_match, etag_of
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.problems import domain_problem, from_domain_problems
from invoiceflow.api.routing import problem_responses
from invoiceflow.api.schemas.billing import (
    ActionIn, ActionResult, CreditNoteIn, History, Invoice, InvoiceSummary, ValidateResult)
from invoiceflow.errors import ValidationError
from invoiceflow.lifecycle.credit_notes import raise_credit_note
from invoiceflow.lifecycle.history import invoice_history
from invoiceflow.lifecycle.service import transition
from invoiceflow.lifecycle.states import STATUSES, TransitionRefused
from invoiceflow.review.queries import invoice_findings
from invoiceflow.review.release import release
from invoiceflow.store.db import reader
from invoiceflow.store.tables import customers, invoice_lines, invoices

router = api_router("invoices")
Status = Literal[STATUSES]  # type: ignore[valid-type]
KINDS = {"invoices": ("invoice", "invoice"), "credit-notes": ("credit_note", "credit note")}
ACTIONS = {"submit": "invoices.release", "approve": "invoices.approve", "issue": "invoices.release",
           "reject": "invoices.release", "void": "invoices.release"}


def invoice_etag(row: dict[str, Any]) -> str:
    return etag_of("invoice", row["id"], row["status"], row["updated_at"], row["approval_round"], row["number"])


def _header_query(tenant_id: int, document_type: str):
    return (select(invoices, customers.c.code.label("customer"))
            .join(customers, customers.c.id == invoices.c.customer_id)
            .where(invoices.c.tenant_id == tenant_id, invoices.c.document_type == document_type))


def _load(conn, tenant_id: int, document_type: str, invoice_id: int, *, lock: bool = False) -> dict[str, Any]:
    query = _header_query(tenant_id, document_type).where(invoices.c.id == invoice_id)
    row = conn.execute(query.with_for_update(of=invoices) if lock else query).mappings().first()
    if row is None:
        raise not_found(KINDS["invoices" if document_type == "invoice" else "credit-notes"][1], invoice_id)
    return dict(row)


def _with_lines(conn, row: dict[str, Any]) -> dict[str, Any]:
    lines = conn.execute(select(invoice_lines).where(invoice_lines.c.invoice_id == row["id"])
                         .order_by(invoice_lines.c.position)).mappings().all()
    return {**row, "lines": [dict(line) for line in lines]}


def _register(prefix: str) -> None:
    document_type, noun = KINDS[prefix]

    @router.get(f"/v1/{prefix}", response_model=Page[InvoiceSummary], dependencies=[allow("invoices.read")],
                summary=f"List {noun}s, newest first")
    def list_documents(request: Request, page: PageParams = Depends(), status: Status | None = Query(None),
                       customer: str | None = Query(None, max_length=64),
                       currency: str | None = Query(None, min_length=3, max_length=3),
                       bill_run_id: int | None = Query(None, ge=1, le=2**63 - 1)) -> dict[str, Any]:
        query = _header_query(caller(request).tenant_id, document_type)
        for column, value in ((invoices.c.status, status), (customers.c.code, customer),
                              (invoices.c.currency, currency), (invoices.c.bill_run_id, bill_run_id)):
            if value is not None:
                query = query.where(column == value)
        with reader(ctx_of(request).engine).connect() as conn:
            rows, cursor = fetch_page(conn, query, invoices.c.id, prefix, page, newest_first=True)
        return page_of(rows, cursor)

    @router.get(f"/v1/{prefix}/{{invoice_id}}", response_model=Invoice, dependencies=[allow("invoices.read")],
                summary=f"One {noun} with its lines (ETag)")
    def get_document(invoice_id: Id, request: Request, response: Response) -> dict[str, Any]:
        with reader(ctx_of(request).engine).connect() as conn:
            row = _load(conn, caller(request).tenant_id, document_type, invoice_id)
            document = _with_lines(conn, row)
        response.headers["ETag"] = invoice_etag(row)
        return document

    @router.get(f"/v1/{prefix}/{{invoice_id}}/history", response_model=History,
                dependencies=[allow("invoices.read")], summary=f"Transitions and refused attempts of a {noun}")
    def get_history(invoice_id: Id, request: Request) -> dict[str, Any]:
        with reader(ctx_of(request).engine).connect() as conn:
            _load(conn, caller(request).tenant_id, document_type, invoice_id)
        return invoice_history(ctx_of(request).engine, invoice_id, tenant=caller(request).tenant)

    @router.post(f"/v1/{prefix}/{{invoice_id}}/validate", response_model=ValidateResult,
                 dependencies=[allow("invoices.release")], responses=problem_responses(412),
                 summary=f"Run the current policy's gates on a {noun}")
    def validate_document(invoice_id: Id, request: Request, response: Response) -> dict[str, Any]:
        ctx, who = ctx_of(request), caller(request)
        with reader(ctx.engine).connect() as conn:
            check_if_match(request, invoice_etag(_load(conn, who.tenant_id, document_type, invoice_id)),
                           required=False)
        release(ctx.engine, who.tenant, [invoice_id], actor=who.member, clock=ctx.clock, advance_validated=False)
        found = [f for f in invoice_findings(ctx.engine, who.tenant, invoice_id) if f["status"] == "open"]
        with reader(ctx.engine).connect() as conn:
            row = _load(conn, who.tenant_id, document_type, invoice_id)
        response.headers["ETag"] = invoice_etag(row)
        return {"invoice_id": invoice_id, "status": row["status"], "findings": found}

    for action, permission in ACTIONS.items():
        _register_action(prefix, document_type, noun, action, permission)


def _register_action(prefix: str, document_type: str, noun: str, action: str, permission: str) -> None:
    @router.post(f"/v1/{prefix}/{{invoice_id}}/{action}", response_model=ActionResult,
                 dependencies=[allow(permission)], responses=problem_responses(412),
                 summary=f"{action.capitalize()} a {noun}", name=f"{action}_{document_type}")
    def act(invoice_id: Id, request: Request, response: Response,
            body: ActionIn | None = Body(None)) -> dict[str, Any]:
        ctx, who = ctx_of(request), caller(request)
        refused: TransitionRefused | None = None
        with ctx.engine.begin() as conn:
            check_if_match(request, invoice_etag(_load(conn, who.tenant_id, document_type, invoice_id, lock=True)),
                           required=False)
            try:
                result = transition(conn, who.tenant, invoice_id, action, actor=who.member,
                                    reason=body.reason if body else None, clock=ctx.clock)
            except TransitionRefused as exc:
                refused = exc  # the refusal's audit entry commits with this transaction
            else:
                row = _load(conn, who.tenant_id, document_type, invoice_id)
        if refused is not None:
            raise refused
        response.headers["ETag"] = invoice_etag(row)
        given, needed = result.approvals or (None, None)
        return {"invoice_id": result.invoice_id, "action": result.action, "from_status": result.from_status,
                "status": result.status, "changed": result.changed, "number": result.number,
                "findings": list(result.findings), "approvals_given": given, "approvals_needed": needed}


for _prefix in KINDS:
    _register(_prefix)


@router.post("/v1/invoices/{invoice_id}/credit-notes", response_model=Invoice, status_code=201,
             dependencies=[allow("invoices.credit")], summary="Raise a draft credit note against an issued invoice",
             responses={200: {"model": Invoice, "description": "The credit note an earlier request with the same "
                                                               "`reference` raised; nothing was written"}})
def credit_invoice(invoice_id: Id, body: CreditNoteIn, request: Request, response: Response) -> dict[str, Any]:
    """Credit the whole invoice (no `lines`) or the lines named, each by quantity, amount or all that remains
    of it. Never more than what earlier credit notes left uncredited; the caller is the credit note's creator
    and so may not approve it."""
    ctx, who = ctx_of(request), caller(request)
    lines = None if body.lines is None else [line.model_dump(exclude_none=True) for line in body.lines]
    try:
        with ctx.engine.begin() as conn:
            result = raise_credit_note(conn, who.tenant_id, invoice_id, actor=who.member, reason=body.reason,
                                       lines=lines, reference=body.reference, clock=ctx.clock)
    except ValidationError as exc:
        problem = domain_problem(exc)
        problem.errors = from_domain_problems(exc.problems, record_pointer=_line_pointers(invoice_id, lines))
        raise problem from None
    with reader(ctx.engine).connect() as conn:
        row = _load(conn, who.tenant_id, "credit_note", result.credit_note_id)
        document = _with_lines(conn, row)
    response.status_code = 201 if result.created else 200
    response.headers["ETag"] = invoice_etag(row)
    response.headers["Location"] = f"/v1/credit-notes/{result.credit_note_id}"
    return document


def _line_pointers(invoice_id: int, lines: list[dict[str, Any]] | None):
    """Where a problem of the credit-note service is in the body: "invoice 42 lines[2]" is `/lines/2`, "invoice
    42 line 17" the first item naming line 17, and "invoice 42" the body itself."""
    record = f"invoice {invoice_id}"
    where = {f"{record} line {line['line_id']}": index for index, line in reversed(list(enumerate(lines or ())))}
    where.update({f"{record} lines[{index}]": index for index in range(len(lines or ()))})

    def pointer(label: str) -> str | None:
        if label == record:
            return ""
        return f"/lines/{where[label]}" if label in where else None

    return pointer
