"""Period close: a legal entity's month becomes final for revenue.

Closing recognizes the month first (in the same transaction), so what the closed month shows is complete,
then records it closed, audited with who closed it and when. From then on nothing is posted into it: a later
credit note or change touching it posts its catch-up in the first open month (revrec/stored.py `plan`), and
the triggers of migration 0007 refuse any write to its schedule months. Months close in order, only after
they have ended, and only once every document issued in them is posted to the ledger, so no document can
turn up later dated in a closed month. Closing a closed month again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, insert, select

from invoiceflow.audit.log import append_entry
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.errors import Problem, ValidationError
from invoiceflow.ledger.load import ISSUED_STATUSES, legal_entity_id, tenant_of, utc_day
from invoiceflow.revenue.periods import closed_through, lock_revenue, parse_period, require_ended
from invoiceflow.revenue.posting import RecognitionReport, recognize_in
from invoiceflow.revenue.schedules import load_lines
from invoiceflow.revrec.journal import period_end, period_of
from invoiceflow.revrec.stored import next_period
from invoiceflow.store.revrec_tables import revenue_periods
from invoiceflow.store.tables import invoices


@dataclass(frozen=True, slots=True)
class CloseReport:
    legal_entity: str
    period: str
    closed: bool  # False: it was already closed, nothing changed
    closed_by: str
    closed_at: datetime
    recognition: RecognitionReport | None = None

    def as_dict(self) -> dict:
        return {"legal_entity": self.legal_entity, "period": self.period, "closed": self.closed,
                "closed_by": self.closed_by, "closed_at": self.closed_at.isoformat(),
                "recognition": self.recognition.as_dict() if self.recognition else None}


def close_period(engine: Engine, tenant: str, legal_entity: str, period: str, actor: str, *,
                 clock: Clock | None = None) -> CloseReport:
    """Recognize `period` for `legal_entity` and close it; refuses (writing nothing) a month not yet over, an
    earlier month still open, or a document issued in it that the ledger has not posted."""
    clock = clock or SystemClock()
    parse_period(period, record=f"close {legal_entity}", field="period")
    if not isinstance(actor, str) or not actor.strip():
        raise ValidationError("a period close names who closes it", record=f"close {legal_entity} {period}",
                              field="actor")
    require_ended(period, clock, record=f"close {legal_entity}", field="period")
    at = clock.now()
    with engine.begin() as conn:
        tid = tenant_of(conn, tenant)
        lock_revenue(conn, tid)
        entity_id = legal_entity_id(conn, tid, legal_entity)
        last = closed_through(conn, tid).get(entity_id)
        done = _already_closed(conn, tid, entity_id, legal_entity, period, last)
        if done is not None:
            return done
        _check_order(conn, tid, entity_id, legal_entity, period, last)
        _check_posted(conn, tid, entity_id, period)
        report = recognize_in(conn, tid, period, at=at, legal_entity_id=entity_id, actor=actor)
        conn.execute(insert(revenue_periods).values(tenant_id=tid, legal_entity_id=entity_id, period=period,
                                                    status="closed", closed_at=at, closed_by=actor))
        append_entry(conn, tenant_id=tid, actor=actor, action="revenue.period_closed", object_type="revenue_period",
                     object_id=f"{legal_entity}:{period}", at=at, payload={
                         "legal_entity": legal_entity, "period": period, "entries_posted": len(report.entries)})
    return CloseReport(legal_entity, period, True, actor, at, report)


def _already_closed(conn: Connection, tid: int, entity_id: int, entity: str, period: str,
                    last: str | None) -> CloseReport | None:
    """The close that covers `period` (its own, or a later one: closed months form a prefix), or None."""
    if last is None or period > last:
        return None
    row = conn.execute(select(revenue_periods.c.period, revenue_periods.c.closed_by, revenue_periods.c.closed_at)
                       .where(revenue_periods.c.tenant_id == tid, revenue_periods.c.legal_entity_id == entity_id,
                              revenue_periods.c.status == "closed", revenue_periods.c.period >= period)
                       .order_by(revenue_periods.c.period).limit(1)).one()
    at = row.closed_at if row.closed_at.tzinfo else row.closed_at.replace(tzinfo=timezone.utc)
    return CloseReport(entity, period, False, row.closed_by, at)


def _check_order(conn: Connection, tid: int, entity_id: int, entity: str, period: str, last: str | None) -> None:
    """Months close in order: the one after the latest closed, or for a first close the legal entity's
    earliest month with revenue (a service month or an issue month of a posted document), if earlier."""
    if last is not None:
        expected = next_period(last)
    else:
        first = [period]
        for s in load_lines(conn, tid, entity_id).schedules:
            first.append(period_of(s.line.issued_on))
            if s.line.service_start is not None:
                first.append(period_of(s.line.service_start))
        expected = min(first)
    if period > expected:
        raise ValidationError(f"{expected} is still open for legal entity {entity}: months are closed in order, "
                              f"so close {expected} first", record=f"close {entity}", field="period")


def _check_posted(conn: Connection, tid: int, entity_id: int, period: str) -> None:
    """Every document issued up to the end of `period` must be in the ledger before the month closes."""
    waiting = set(load_lines(conn, tid, entity_id).waiting)
    if not waiting:
        return
    rows = conn.execute(select(invoices.c.id, invoices.c.document_type, invoices.c.number, invoices.c.issued_at)
                        .where(invoices.c.id.in_(sorted(waiting)),
                               invoices.c.status.in_(sorted(ISSUED_STATUSES | {"void"})))).all()
    end = period_end(period)
    problems = [
        Problem(f"{kind.replace('_', ' ')} {doc} ({number})", "ledger",
                f"issued on {utc_day(issued).isoformat()} but not posted to the ledger: post it (invoiceflow ledger "
                f"post {doc}) before closing {period}")
        for doc, kind, number, issued in rows if issued is not None and utc_day(issued) <= end]
    if problems:
        raise ValidationError(problems)
