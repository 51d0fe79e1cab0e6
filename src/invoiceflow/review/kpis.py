"""Release KPIs computed from the data itself: automation coverage, exception rates, queue ages and SLA
breaches, manual touch rate and rework rate.

- automation coverage: released invoices (issued or later) whose every transition was made by the system
  or the automatic release, over all released invoices;
- exception rate by case type: validated invoices with a blocking finding of that type, over all validated;
- queue age: percentiles of the age of open cases per queue (hours), and SLA breaches (open past due, or
  resolved after due);
- manual touch rate: validated invoices with at least one transition by a person;
- rework rate: invoices validated more than once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from invoiceflow.review.cases import ACTIVE
from invoiceflow.review.queries import aware
from invoiceflow.store.db import reader
from invoiceflow.store.review_tables import findings, review_cases
from invoiceflow.store.tables import invoice_transitions, invoices
from invoiceflow.store.tenancy import tenant_id as resolve_tenant
from invoiceflow.team import AUTOMATION

AUTOMATED = ("system", AUTOMATION, "ledger")  # the bill run, the automatic release, the ledger posting
RELEASED = ("issued", "posted", "partially_paid", "paid")


def release_kpis(engine: Engine, *, tenant: str, now: datetime) -> dict[str, Any]:
    with reader(engine).connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        validated = conn.execute(select(func.count()).where(
            invoices.c.tenant_id == tid, invoices.c.validation_runs > 0)).scalar() or 0
        reworked = conn.execute(select(func.count()).where(
            invoices.c.tenant_id == tid, invoices.c.validation_runs > 1)).scalar() or 0
        touched = set(conn.execute(select(invoice_transitions.c.invoice_id).where(
            invoice_transitions.c.tenant_id == tid, invoice_transitions.c.actor.not_in(AUTOMATED)).distinct()).scalars())
        released = set(conn.execute(select(invoices.c.id).where(
            invoices.c.tenant_id == tid, invoices.c.status.in_(RELEASED))).scalars())
        by_type = defaultdict(set)
        for case_type, invoice_id in conn.execute(
                select(review_cases.c.case_type, findings.c.invoice_id)
                .join(review_cases, review_cases.c.id == findings.c.case_id)
                .where(findings.c.tenant_id == tid, findings.c.invoice_id.is_not(None))):
            by_type[case_type].add(invoice_id)
        cases = conn.execute(select(review_cases.c.queue, review_cases.c.status, review_cases.c.opened_at,
                                    review_cases.c.due_at, review_cases.c.resolved_at)
                             .where(review_cases.c.tenant_id == tid)).all()
    untouched = len(released - touched)
    return {
        "invoices_validated": validated,
        "invoices_released": len(released),
        "automation_coverage": _pct(untouched, len(released)),
        "manual_touch_rate": _pct(len(touched), validated),
        "rework_rate": _pct(reworked, validated),
        "exception_rate_by_type": {kind: _pct(len(ids), validated) for kind, ids in sorted(by_type.items())},
        "queues": _queues(cases, now),
    }


def _queues(cases, now: datetime) -> dict[str, dict[str, Any]]:
    ages: dict[str, list[float]] = defaultdict(list)
    stats: dict[str, dict[str, int]] = defaultdict(lambda: {"open": 0, "resolved": 0, "sla_breached": 0})
    for queue, status, opened, due, resolved in cases:
        opened, due = aware(opened), aware(due)
        end = aware(resolved) if resolved else now
        if status in ACTIVE:
            stats[queue]["open"] += 1
            ages[queue].append((now - opened).total_seconds() / 3600)
        else:
            stats[queue]["resolved"] += 1
        if end > due:
            stats[queue]["sla_breached"] += 1
    out = {}
    for queue in sorted(stats):
        values = sorted(ages[queue])
        out[queue] = {**stats[queue], "age_hours_p50": _percentile(values, 50), "age_hours_p90": _percentile(values, 90),
                      "age_hours_max": _percentile(values, 100)}
    return out


def _percentile(values: list[float], p: int) -> str | None:
    """Nearest-rank percentile, in hours with one decimal."""
    if not values:
        return None
    rank = max(1, -(-p * len(values) // 100))
    return str(Decimal(str(values[rank - 1])).quantize(Decimal("0.1")))


def _pct(part: int, whole: int) -> str | None:
    return None if not whole else str((Decimal(part) * 100 / whole).quantize(Decimal("0.1")))

