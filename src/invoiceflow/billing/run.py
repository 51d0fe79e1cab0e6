"""Bill runs: every subscription due on or before a date, billed in batches, idempotent and resumable.

Each batch of subscriptions is one transaction: load terms and history, find due billing points, aggregate
the usage windows of the whole batch in one query, assemble documents, write them. A bill-run document is
unique per (subscription, billing date, document type) in the database, so running the same bill run twice
creates nothing new, and a run killed at any point resumes by running it again: committed batches are skipped
because their points are billed, the interrupted batch is redone from scratch. Memory holds one batch.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Callable

from sqlalchemy import Engine, func, insert, select, update

from invoiceflow.billing.assemble import assemble_point
from invoiceflow.billing.drafts import CREDIT_NOTE, DocumentDraft
from invoiceflow.billing.load import (
    CatalogCache, CreditBalances, billed_advance_days, billed_points, creditable_advance_lines, load_batch)
from invoiceflow.billing.persist import advance_usage_cursors, write_documents
from invoiceflow.billing.schedule import due_work
from invoiceflow.billing.usage import UsageWindow, usage_windows
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.errors import InvoiceflowError, ValidationError
from invoiceflow.metering.aggregate import Window, aggregate_windows, transaction_amounts_many
from invoiceflow.store.tables import bill_runs, subscriptions, usage_events
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

Progress = Callable[[int, int], None]


@dataclass
class BillRunReport:
    bill_run_id: int
    as_of: date
    subscriptions: int = 0
    documents: Counter = field(default_factory=Counter)
    totals: dict[tuple[str, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    count_by: Counter = field(default_factory=Counter)
    late_events: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (subscription code, reason): nothing billed

    @property
    def invoices(self) -> int:
        return self.documents["invoice"]

    @property
    def credit_notes(self) -> int:
        return self.documents[CREDIT_NOTE]

    def as_dict(self) -> dict:
        return {
            "bill_run_id": self.bill_run_id, "as_of": self.as_of.isoformat(), "subscriptions": self.subscriptions,
            "invoices": self.invoices, "credit_notes": self.credit_notes, "late_events": self.late_events,
            "failures": [{"subscription": code, "reason": reason} for code, reason in self.failures],
            "totals": [{"document_type": t, "currency": c, "count": self.count_by[(t, c)], "total": str(v)}
                       for (t, c), v in sorted(self.totals.items())],
        }


def as_of_for_period(period: str) -> date:
    """`2026-10` bills the service month October: everything due up to and including 2026-11-01."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", period)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValidationError(f"{period!r} is not a month (YYYY-MM)", field="period")
    year, month = int(match.group(1)), int(match.group(2))
    return date(year, month, calendar.monthrange(year, month)[1]) + timedelta(days=1)


def run_bill_run(
    engine: Engine,
    *,
    as_of: date,
    tenant: str = "default",
    label: str | None = None,
    clock: Clock | None = None,
    batch_size: int = 500,
    on_progress: Progress | None = None,
) -> BillRunReport:
    """Bill every subscription of `tenant` due on or before `as_of`; safe to rerun (creates only what is missing)."""
    clock = clock or SystemClock()
    with engine.begin() as conn:
        tenant_id = resolve_tenant(conn, tenant)
        total = conn.execute(select(func.count()).select_from(subscriptions)
                             .where(subscriptions.c.tenant_id == tenant_id)).scalar_one()
        run_id = conn.execute(insert(bill_runs).values(
            tenant_id=tenant_id, as_of=as_of, label=label or as_of.isoformat(), status="running",
            started_at=clock.now()).returning(bill_runs.c.id)).scalar_one()
        cache = CatalogCache(conn, tenant_id)
    report = BillRunReport(bill_run_id=run_id, as_of=as_of)
    lock = engine.dialect.name == "postgresql"
    after = 0
    while True:
        with engine.begin() as conn:
            batch = load_batch(conn, cache, after, batch_size, lock=lock)
            if not batch:
                break
            bill_batch(conn, tenant_id, run_id, batch, as_of, clock, report)
        after = batch[-1].id
        cache.versions.clear()  # a contract's versions are needed by its own batch only: memory stays flat
        report.subscriptions += len(batch)
        if on_progress:
            on_progress(report.subscriptions, total)
    with engine.begin() as conn:
        report.late_events = late_event_count(conn, tenant_id)
        conn.execute(update(bill_runs).where(bill_runs.c.id == run_id).values(
            status="completed", finished_at=clock.now(), stats=report.as_dict()))
    return report


def late_event_count(conn, tenant_id: int) -> int:
    """Events stored as late (after their window was billed): reported by every run, never billed silently."""
    return conn.execute(select(func.count()).select_from(usage_events).where(
        usage_events.c.tenant_id == tenant_id, usage_events.c.late == 1)).scalar_one()


def bill_batch(conn, tenant_id: int, run_id: int, batch, as_of: date, clock: Clock, report: BillRunReport) -> None:
    """Bill one loaded batch in the caller's transaction, adding what it wrote to `report`.

    Shared by the in-process run and the distributed workers (billing/distributed.py), so both bill alike.
    """
    ids = [s.id for s in batch]
    points = billed_points(conn, ids)
    plans = []
    for sub in batch:
        work = due_work(sub, as_of, points.get(sub.id, set()))
        if work:
            plans.append((sub, work, sub.nominal_period(work[0].point)[0]))
    if not plans:
        return
    windows: list[UsageWindow] = []
    for sub, work, _lower in plans:
        for item in work:
            if item.arrears is not None:
                windows += usage_windows(sub, item.arrears)
    aggregates, transactions = _measure(conn, tenant_id, windows)
    billed = billed_advance_days(conn, [p[0].id for p in plans], min(p[2] for p in plans))
    creditable = creditable_advance_lines(conn, {i for days in billed.values() for i in days.invoices})
    balances = CreditBalances(conn, sorted({p[0].customer_id for p in plans}))
    documents: list[DocumentDraft] = []
    cursors = []
    billed_subs = set()
    for sub, work, lower in plans:
        try:
            documents += _assemble(sub, work, billed[sub.id], lower, aggregates, transactions, balances, creditable)
            billed_subs.add(sub.id)
        except InvoiceflowError as exc:  # one subscription's bad data never blocks the rest of the run
            report.failures.append((sub.code, str(exc)))
    for window in windows:
        if window.subscription_id in billed_subs:
            cursors.append((window.customer_id, window.meter_id, window.end_micros))
    write_documents(conn, tenant_id, run_id, clock.now(), documents)
    advance_usage_cursors(conn, tenant_id, cursors)
    for doc in documents:
        report.documents[doc.document_type] += 1
        report.totals[(doc.document_type, doc.currency)] += doc.total
        report.count_by[(doc.document_type, doc.currency)] += 1


def _assemble(sub, work, billed, lower, aggregates, transactions, balances, creditable) -> list[DocumentDraft]:
    """All points of one subscription; credit draws are committed to `balances` only if every point succeeds."""
    documents, drawn = [], Decimal(0)
    for item in work:
        available = balances.available(sub.customer_id, item.point) - drawn
        result = assemble_point(sub, item, billed, lower, aggregates, transactions, available, creditable)
        drawn += result.credit_used
        documents += [d for d in (result.invoice, result.credit_note) if d is not None]
    balances.draw(sub.customer_id, drawn)
    return documents


def _measure(conn, tenant_id: int, windows: list[UsageWindow]):
    by_id = {i: w for i, w in enumerate(windows)}
    found = aggregate_windows(conn, tenant_id, [
        Window(i, w.customer_id, w.meter_id, w.aggregation, w.start_micros, w.end_micros) for i, w in by_id.items()
    ]) if windows else {}
    aggregates = {by_id[i].key: groups for i, groups in found.items()}
    needing = {i: w for i, w in by_id.items() if w.needs_transactions}
    amounts = transaction_amounts_many(conn, tenant_id, [
        Window(i, w.customer_id, w.meter_id, w.aggregation, w.start_micros, w.end_micros) for i, w in needing.items()
    ])
    transactions = {needing[i].key: found for i, found in amounts.items()}
    return aggregates, transactions
