"""Read models for the review queues: cases with their age and SLA, one case with its findings and invoices."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from invoiceflow.errors import NotFound
from invoiceflow.review.cases import ACTIVE
from invoiceflow.store.db import reader
from invoiceflow.store.review_tables import findings, review_cases
from invoiceflow.store.tables import customers, invoices
from invoiceflow.store.tenancy import tenant_id as resolve_tenant


def aware(at: datetime) -> datetime:
    """A stored time as UTC: SQLite reads times back naive (they are stored in UTC)."""
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)



def list_cases(engine: Engine, *, tenant: str, queue: str | None = None, status: str = "open",
               now: datetime, limit: int = 200) -> list[dict[str, Any]]:
    """Cases of a queue (or all), oldest first; `status` open (incl. override pending), resolved or all."""
    with reader(engine).connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        held = (select(findings.c.case_id, func.count(func.distinct(findings.c.invoice_id)).label("invoices"))
                .where(findings.c.tenant_id == tid, findings.c.case_id.is_not(None))
                .group_by(findings.c.case_id).subquery())
        query = (select(review_cases, held.c.invoices).outerjoin(held, held.c.case_id == review_cases.c.id)
                 .where(review_cases.c.tenant_id == tid).order_by(review_cases.c.opened_at, review_cases.c.id)
                 .limit(limit))
        if queue:
            query = query.where(review_cases.c.queue == queue)
        if status == "open":
            query = query.where(review_cases.c.status.in_(ACTIVE))
        elif status != "all":
            query = query.where(review_cases.c.status == status)
        return [with_age(dict(r), now) for r in conn.execute(query).mappings()]


def case_detail(engine: Engine, case_id: int, *, tenant: str, now: datetime) -> dict[str, Any]:
    with reader(engine).connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        row = conn.execute(select(review_cases).where(review_cases.c.tenant_id == tid, review_cases.c.id == case_id)
                           ).mappings().first()
        if row is None:
            raise NotFound(f"case {case_id} does not exist for tenant {tenant!r}")
        found = [dict(r) for r in conn.execute(
            select(findings).where(findings.c.case_id == case_id).order_by(findings.c.invoice_id, findings.c.id)
        ).mappings()]
        ids = sorted({f["invoice_id"] for f in found if f["invoice_id"]})
        held = [dict(r) for r in conn.execute(
            select(invoices.c.id, invoices.c.status, invoices.c.total, invoices.c.currency, invoices.c.number,
                   invoices.c.period_start, customers.c.code.label("customer"))
            .join(customers, customers.c.id == invoices.c.customer_id).where(invoices.c.id.in_(ids))
            .order_by(invoices.c.id)).mappings()]
        return {**with_age(dict(row), now), "findings": found, "invoices": held}


def with_age(case: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The case with its age in hours and whether its SLA is breached at `now` (or when it was resolved)."""
    opened, due = aware(case["opened_at"]), aware(case["due_at"])
    end = aware(case["resolved_at"]) if case.get("resolved_at") else now
    case["age_hours"] = Decimal((end - opened).total_seconds() / 3600).quantize(Decimal("0.1"))
    case["sla_breached"] = end > due
    case["invoices"] = case.get("invoices") or 0
    return case


def invoice_findings(engine: Engine, tenant: str, invoice_id: int) -> list[dict[str, Any]]:
    """Every finding recorded on an invoice, newest validation last."""
    with reader(engine).connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        return [dict(r) for r in conn.execute(select(findings).where(
            findings.c.tenant_id == tid, findings.c.invoice_id == invoice_id).order_by(findings.c.id)).mappings()]
