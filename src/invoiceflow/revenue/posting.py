"""The recognition run: post, for every open month up to a given one, what each schedule needs in the ledger.

Each entry belongs to one schedule and one month, is dated the month's last day and keyed
"revrec:<schedule id>:<YYYY-MM>" (a later correction of the same month, after a void, gets ":2", ":3"...),
and goes through the built-in ledger like every other entry, in one transaction with the schedule changes.
What an entry posts is the difference between the schedule's cumulative targets and what the document's
own entries and earlier recognition entries posted (revrec/stored.py `needed`): deferred revenue released
month by month, unbilled receivable accrued for service ahead of billing and cleared in the month of the
invoice, and the part of an issue entry's revenue that belongs to later months moved to deferred revenue.
A rerun finds nothing needed and posts nothing. Every posting also records its key on the schedule month,
so the database triggers of migration 0007 refuse it if that month is closed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, and_, insert, update

from invoiceflow.audit.log import append_entry
from invoiceflow.clock import Clock
from invoiceflow.errors import ValidationError
from invoiceflow.ledger.accounts import ALL_PRODUCTS, Chart
from invoiceflow.ledger.entries import JournalEntry, JournalLine
from invoiceflow.ledger.load import legal_entity_id, load_chart, tenant_of
from invoiceflow.ledger.sql_ledger import SqlLedger
from invoiceflow.revenue.periods import closed_through, lock_revenue, parse_period, require_ended
from invoiceflow.revenue.schedules import Schedule, refresh_schedules
from invoiceflow.revrec.allocation import exact
from invoiceflow.revrec.journal import period_end, period_of
from invoiceflow.revrec.stored import Booking, journal_lines, needed, open_months
from invoiceflow.store.revrec_tables import revenue_schedule_periods

SOURCE = "revrec"
MEMOS = {"revenue": "revenue", "deferred_revenue": "deferred revenue", "unbilled": "unbilled receivable"}
_SIDES = {memo: role for role, memo in MEMOS.items()}


@dataclass(slots=True)
class RecognitionReport:
    """What one run did; `revenue` is what its entries recognized, per (legal entity, currency)."""

    through: str
    schedules: int = 0
    created: int = 0
    entries: list[str] = field(default_factory=list)
    revenue: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    waiting: list[int] = field(default_factory=list)
    closed_through: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"through": self.through, "schedules": self.schedules, "schedules_created": self.created,
                "entries_posted": len(self.entries), "entry_keys": self.entries,
                "revenue": [{"legal_entity": e, "currency": c, "amount": str(a)}
                            for (e, c), a in sorted(self.revenue.items())],
                "waiting_for_ledger": self.waiting, "closed_through": self.closed_through}


def recognize_through(engine: Engine, tenant: str, period: str, *, clock: Clock, legal_entity: str | None = None,
                      actor: str = "revrec") -> RecognitionReport:
    """Build or refresh the schedules and post recognition for every open month up to `period`, in one
    transaction: on any error nothing is written. Refuses a month that has not ended by the clock."""
    parse_period(period, record="recognize", field="through")
    require_ended(period, clock, record="recognize", field="through")
    with engine.begin() as conn:
        tid = tenant_of(conn, tenant)
        lock_revenue(conn, tid)
        entity_id = legal_entity_id(conn, tid, legal_entity) if legal_entity else None
        return recognize_in(conn, tid, period, at=clock.now(), legal_entity_id=entity_id, actor=actor)


def recognize_in(conn: Connection, tenant_id: int, period: str, *, at: datetime, legal_entity_id: int | None = None,
                 actor: str = "revrec") -> RecognitionReport:
    """The run inside the caller's transaction (the period close runs it before closing)."""
    closed = closed_through(conn, tenant_id)
    found = refresh_schedules(conn, tenant_id, closed, at=at, legal_entity_id=legal_entity_id)
    report = RecognitionReport(period, len(found.schedules), found.created, waiting=found.waiting)
    ledger = SqlLedger()
    posted, keys = _posted(conn, tenant_id, ledger)
    charts: dict[int, Chart] = {}
    for s in found.schedules:
        last = closed.get(s.legal_entity_id)
        if last is not None:
            report.closed_through[s.legal_entity] = last
        activity = list(s.months) + list(s.documents)
        if not activity:
            continue
        for month in open_months(min(activity), period, last):
            move = needed(s.months, s.documents, posted[s.id], month, credit=s.line.value < 0)
            key = None
            if not move.is_zero:
                check_open(s, month, closed)
                key = _next_key(s.id, month, keys)
                if s.legal_entity_id not in charts:
                    charts[s.legal_entity_id] = load_chart(conn, tenant_id, s.legal_entity_id, s.legal_entity)
                ledger.post(conn, tenant_id, _entry(s, month, move, key, charts[s.legal_entity_id]), at=at,
                            actor=actor)
                posted[s.id][month] += move
                report.entries.append(key)
                where = (s.legal_entity, s.line.currency)
                report.revenue[where] = report.revenue.get(where, Decimal(0)) + move.revenue
            _record(conn, tenant_id, s, month, key or keys.get((s.id, month)) or s.document_key(month))
    if report.entries:
        append_entry(conn, tenant_id=tenant_id, actor=actor, action="revenue.recognized", object_type="revenue_run",
                     object_id=period, at=at, payload={"through": period, "entries": len(report.entries),
                                                        "schedules": report.schedules})
    return report


def _posted(conn: Connection, tenant_id: int, ledger: SqlLedger) -> tuple[dict, dict]:
    """Recognition already posted, per schedule and month, read back from the ledger (lines by their memo);
    and the latest key used per (schedule, month)."""
    posted: dict[int, dict[str, Booking]] = defaultdict(lambda: defaultdict(Booking))
    keys: dict[tuple[int, str], str] = {}
    for stored in ledger.entries(conn, tenant_id, source_type=SOURCE):
        entry = stored.entry
        schedule_id, month = int(entry.source_id), period_of(entry.date)
        sums = defaultdict(lambda: Decimal(0))
        for line in entry.lines:
            sums[_SIDES[line.memo]] += line.credit - line.debit
        posted[schedule_id][month] += Booking(sums["revenue"], sums["deferred_revenue"], -sums["unbilled"])
        keys[(schedule_id, month)] = entry.entry_key
    return posted, keys


def _next_key(schedule_id: int, month: str, keys: dict[tuple[int, str], str]) -> str:
    """"revrec:<schedule>:<month>", then ":2", ":3"... for later corrections of the same month."""
    base = f"{SOURCE}:{schedule_id}:{month}"
    last = keys.get((schedule_id, month))
    if last is None:
        key = base
    elif last == base:
        key = f"{base}:2"
    else:
        key = f"{base}:{int(last.rsplit(':', 1)[1]) + 1}"
    keys[(schedule_id, month)] = key
    return key


def _entry(s: Schedule, month: str, move: Booking, key: str, chart: Chart) -> JournalEntry:
    product = s.line.product or ALL_PRODUCTS
    roles = journal_lines(move)
    accounts = chart.accounts_for([(role, product) for role, _ in roles])
    lines = tuple(JournalLine.signed(accounts[(role, product)], amount, product=s.line.product, memo=MEMOS[role])
                  for role, amount in roles)
    return JournalEntry(entry_key=key, legal_entity=s.legal_entity, date=period_end(month), currency=s.line.currency,
                        lines=lines, memo=f"revenue recognition {month}: {s.line.label}", source_type=SOURCE,
                        source_id=str(s.id))


def _record(conn: Connection, tenant_id: int, s: Schedule, month: str, key: str | None) -> None:
    """Note on the schedule month which entry put it on the books (a month posted into gets a row even when its
    revenue is zero, so the closed-month triggers guard every posting)."""
    if month not in s.keys:
        if key is None or (s.months.get(month, Decimal(0)) == 0 and key == s.document_key(month)):
            return
        conn.execute(insert(revenue_schedule_periods).values(
            tenant_id=tenant_id, schedule_id=s.id, period=month,
            amount=s.months.get(month, exact(Decimal(0), s.line.currency)), recognized_entry_key=key))
        s.keys[month] = key
    elif key is not None and s.keys[month] != key:
        conn.execute(update(revenue_schedule_periods).where(and_(
            revenue_schedule_periods.c.schedule_id == s.id, revenue_schedule_periods.c.period == month))
            .values(recognized_entry_key=key))
        s.keys[month] = key


def check_open(s: Schedule, month: str, closed: dict[int, str]) -> None:
    """Refuse, naming the line and month, a posting dated in a closed month (the run never attempts one)."""
    last = closed.get(s.legal_entity_id)
    if last is not None and month <= last:
        raise ValidationError(f"revenue for {month} cannot be posted: {month} is closed for legal entity "
                              f"{s.legal_entity} (closed through {last}); nothing was posted", record=s.line.label,
                              field="period")
