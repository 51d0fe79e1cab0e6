"""Revenue schedules built from issued documents as the ledger holds them (adapter over revrec/stored.py).

A document is taken once its issue entry is in the ledger, with the ledger's dates: the issue entry's date
is when it was billed, a void entry's date when it was taken back. Recognition must agree with what the
ledger already posted for the document, and reading the dates from there makes sure it does. Documents
issued but not posted yet wait (`Refreshed.waiting`).

`refresh_schedules` is idempotent: it inserts the schedules and months that are missing and changes only
the open months whose amounts moved; rebuilding from unchanged data writes nothing. A document or void
dated in a closed month is refused with every such line named, before anything is written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, and_, delete, insert, select, update

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.ledger.load import ISSUED_STATUSES
from invoiceflow.revrec.allocation import exact
from invoiceflow.revrec.journal import period_of
from invoiceflow.revrec.stored import (
    GRANULARITY, POINT_IN_TIME, POLICY, Booking, StoredLine, allocated_values, carries_revenue, document_moves,
    ideal_months, obligation_of, plan)
from invoiceflow.store.ledger_tables import journal_entries
from invoiceflow.store.revrec_tables import revenue_schedule_periods, revenue_schedules
from invoiceflow.store.tables import invoice_lines, invoices, legal_entities

DOCUMENTS = ("invoice", "credit_note")
CHUNK = 500


@dataclass(slots=True)
class Schedule:
    """One line's schedule as stored after a refresh: its plan by month and its documents' entries."""

    id: int
    line: StoredLine
    legal_entity_id: int
    legal_entity: str
    contract_id: int
    months: dict[str, Decimal]
    documents: dict[str, Booking]
    keys: dict[str, str | None] = field(default_factory=dict)  # stored month -> recognized_entry_key

    def document_key(self, month: str) -> str | None:
        """The document entry (issue or void) dated in `month`, if any: it put that month's revenue on the books."""
        line = self.line
        if line.void_on is not None and period_of(line.void_on) == month:
            return f"{line.document_type}:{line.invoice_id}:void"
        if period_of(line.issued_on) == month:
            return f"{line.document_type}:{line.invoice_id}:issued"
        return None


@dataclass(slots=True)
class Refreshed:
    schedules: list[Schedule]
    created: int = 0
    waiting: list[int] = field(default_factory=list)  # issued documents whose issue entry is not posted yet


def _ledger_dates(conn: Connection, tenant_id: int) -> dict[int, tuple[date, date | None]]:
    """Document id -> (issue entry date, void entry date or None), from the ledger."""
    issued: dict[int, date] = {}
    voided: dict[int, date] = {}
    for source_type, source_id, key, day in conn.execute(
            select(journal_entries.c.source_type, journal_entries.c.source_id, journal_entries.c.entry_key,
                   journal_entries.c.date)
            .where(journal_entries.c.tenant_id == tenant_id, journal_entries.c.source_type.in_(DOCUMENTS))):
        if key == f"{source_type}:{source_id}:issued":
            issued[int(source_id)] = day
        elif key == f"{source_type}:{source_id}:void":
            voided[int(source_id)] = day
    return {doc: (day, voided.get(doc)) for doc, day in issued.items()}


def _label(document_type: str, invoice_id: int, number: str | None, position: int, product: str | None,
           line_type: str) -> str:
    kind = "credit note" if document_type == "credit_note" else "invoice"
    return f"{kind} {invoice_id}{f' ({number})' if number else ''} line {position} ({product or line_type})"


def load_lines(conn: Connection, tenant_id: int, legal_entity_id: int | None = None) -> Refreshed:
    """Every revenue-carrying line of a document posted to the ledger, with its legal entity (no writes)."""
    dates = _ledger_dates(conn, tenant_id)
    query = (
        select(invoice_lines.c.id, invoice_lines.c.position, invoice_lines.c.line_type, invoice_lines.c.product_code,
               invoice_lines.c.amount, invoice_lines.c.service_start, invoice_lines.c.service_end, invoices.c.id,
               invoices.c.document_type, invoices.c.number, invoices.c.currency, invoices.c.contract_id,
               invoices.c.legal_entity_id, legal_entities.c.code)
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .join(legal_entities, legal_entities.c.id == invoices.c.legal_entity_id)
        .where(invoices.c.tenant_id == tenant_id,
               invoices.c.status.in_(sorted(ISSUED_STATUSES | {"void"})), invoices.c.number.is_not(None))
        .order_by(invoices.c.id, invoice_lines.c.position))
    if legal_entity_id is not None:
        query = query.where(invoices.c.legal_entity_id == legal_entity_id)
    out = Refreshed([])
    waiting: set[int] = set()
    for (line_id, position, line_type, product, amount, start, end, invoice_id, document_type, number, currency,
         contract_id, entity_id, entity) in conn.execute(query):
        line = StoredLine(int(line_id), int(invoice_id), document_type, line_type, product, amount, currency, start,
                          end, date.min, label=_label(document_type, invoice_id, number, position, product, line_type))
        if not carries_revenue(line):
            continue
        if int(invoice_id) not in dates:
            waiting.add(int(invoice_id))
            continue
        issued_on, void_on = dates[int(invoice_id)]
        line = replace(line, issued_on=issued_on, void_on=void_on)
        out.schedules.append(Schedule(0, line, int(entity_id), entity, int(contract_id), {}, document_moves(line)))
    out.waiting = sorted(waiting)
    return out


def _stored(conn: Connection, tenant_id: int) -> tuple[dict[int, dict], dict[int, dict[str, tuple]]]:
    heads = {int(row["line_id"]): dict(row) for row in conn.execute(
        select(revenue_schedules.c.id, revenue_schedules.c.line_id, revenue_schedules.c.void_on)
        .where(revenue_schedules.c.tenant_id == tenant_id)).mappings()}
    months: dict[int, dict[str, tuple]] = defaultdict(dict)
    for schedule_id, period, amount, key in conn.execute(
            select(revenue_schedule_periods.c.schedule_id, revenue_schedule_periods.c.period,
                   revenue_schedule_periods.c.amount, revenue_schedule_periods.c.recognized_entry_key)
            .where(revenue_schedule_periods.c.tenant_id == tenant_id)):
        months[int(schedule_id)][period] = (amount, key)
    return heads, months


def _closed_month_problems(schedules: list[Schedule], heads: dict[int, dict],
                           closed: dict[int, str]) -> list[Problem]:
    """Lines whose document (or void) not yet seen is dated in a closed month: recognizing them would post there."""
    problems = []
    for s in schedules:
        last = closed.get(s.legal_entity_id)
        head = heads.get(s.line.line_id)
        events = []
        if head is None:
            events.append(("issued_on", "issued", s.line.issued_on))
        if s.line.void_on is not None and (head is None or head["void_on"] is None):
            events.append(("void_on", "voided", s.line.void_on))
        for field_name, verb, day in events:
            if last is not None and period_of(day) <= last:
                problems.append(Problem(s.line.label, field_name, (
                    f"{verb} on {day.isoformat()}, in {period_of(day)}, which is closed for revenue in legal entity "
                    f"{s.legal_entity} (closed through {last}): its revenue cannot be posted into a closed month; "
                    "date the document in an open month; nothing was posted")))
    return problems


def refresh_schedules(conn: Connection, tenant_id: int, closed: dict[int, str], *, at: datetime,
                      legal_entity_id: int | None = None) -> Refreshed:
    """Bring the stored schedules in line with the ledger's documents; return them with their plans."""
    found = load_lines(conn, tenant_id, legal_entity_id)
    heads, stored = _stored(conn, tenant_id)
    problems = _closed_month_problems(found.schedules, heads, closed)
    if problems:
        raise ValidationError(problems)
    values = allocated_values([s.line for s in found.schedules])
    for s in found.schedules:
        line, last = s.line, closed.get(s.legal_entity_id)
        head = heads.get(line.line_id)
        if head is None:
            s.id = _insert_schedule(conn, tenant_id, s, values[line.line_id], at)
            found.created += 1
        else:
            s.id = int(head["id"])
            if head["void_on"] != line.void_on:
                conn.execute(update(revenue_schedules).where(revenue_schedules.c.id == s.id)
                             .values(void_on=line.void_on))
        rows = stored.get(s.id, {})
        booked = {month: amount for month, (amount, _) in rows.items() if last is not None and month <= last}
        s.months = plan(ideal_months(line, values[line.line_id]), last, booked)
        s.keys = _write_months(conn, tenant_id, s.id, s.months, rows, last, line.currency)
    return found


def _insert_schedule(conn: Connection, tenant_id: int, s: Schedule, value: Decimal, at: datetime) -> int:
    line, obligation = s.line, obligation_of(s.line)
    return int(conn.execute(insert(revenue_schedules).values(
        tenant_id=tenant_id, invoice_id=line.invoice_id, line_id=line.line_id, contract_id=s.contract_id,
        legal_entity_id=s.legal_entity_id, product_code=line.product, currency=line.currency, obligation=obligation,
        service_start=line.service_start, service_end=line.service_end, allocated=value,
        granularity=None if obligation == POINT_IN_TIME else GRANULARITY.value, policy=POLICY,
        issued_on=line.issued_on, void_on=line.void_on, created_at=at).returning(revenue_schedules.c.id)).scalar_one())


def _write_months(conn: Connection, tenant_id: int, schedule_id: int, months: dict[str, Decimal],
                  rows: dict[str, tuple], closed_through: str | None, currency: str) -> dict[str, str | None]:
    """Insert new months, change moved ones, zero (or drop, if never recognized) vanished ones; open months only."""
    keys = {month: key for month, (_, key) in rows.items()}
    fresh = [{"tenant_id": tenant_id, "schedule_id": schedule_id, "period": month, "amount": amount}
             for month, amount in months.items() if month not in rows]
    if fresh:
        conn.execute(insert(revenue_schedule_periods), fresh)
        keys.update({row["period"]: None for row in fresh})
    for month, (amount, key) in rows.items():
        if closed_through is not None and month <= closed_through:
            continue
        wanted = months.get(month, exact(Decimal(0), currency))
        where = and_(revenue_schedule_periods.c.schedule_id == schedule_id, revenue_schedule_periods.c.period == month)
        if wanted == 0 and key is None:
            conn.execute(delete(revenue_schedule_periods).where(where))
            del keys[month]
        elif wanted != amount:
            conn.execute(update(revenue_schedule_periods).where(where).values(amount=wanted))
    return keys
