"""The deferred revenue waterfall of a tenant: by legal entity, currency and product, month by month, the
revenue each month recognizes and the deferred revenue (and unbilled receivable) left at its end.

It reads the stored schedules, so months already recognized show what the ledger holds and later months
what is scheduled; a recognition run (or a close) brings the schedules up to date first. Balances are per
line, like the ledger's: one line's deferred revenue never offsets another's unbilled receivable, so the
deferred row of a month equals the deferred revenue account at that month end once the month is
recognized. Amounts are never converted between currencies; each legal entity and currency stands alone.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, Engine, select

from invoiceflow.errors import ValidationError
from invoiceflow.ledger.load import legal_entity_id, tenant_of
from invoiceflow.money import format_amount
from invoiceflow.revenue.periods import closed_through, parse_period
from invoiceflow.revrec.journal import period_of
from invoiceflow.revrec.stored import balances, months_from
from invoiceflow.store.db import reader
from invoiceflow.store.revrec_tables import revenue_schedule_periods, revenue_schedules
from invoiceflow.store.tables import invoice_lines, invoices, legal_entities

ZERO = Decimal(0)
MEASURES = ("revenue", "deferred", "unbilled")


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    """One measure of one product (or, with `product` None in totals, of the whole entity), month by month."""

    legal_entity: str
    currency: str
    product: str | None
    measure: str  # revenue (recognized in the month) | deferred | unbilled (balances at the month end)
    values: tuple[Decimal, ...]
    billed_in: str | None = None  # the month the lines were invoiced, when rows are split by it

    def as_dict(self, months: tuple[str, ...]) -> dict:
        return {"legal_entity": self.legal_entity, "currency": self.currency, "product": self.product,
                **({"billed_in": self.billed_in} if self.billed_in else {}), "measure": self.measure,
                "values": {m: format_amount(v, self.currency) for m, v in zip(months, self.values)}}


@dataclass(frozen=True, slots=True)
class Waterfall:
    months: tuple[str, ...]
    rows: tuple[WaterfallRow, ...]
    totals: tuple[WaterfallRow, ...]
    closed_through: dict[str, str]
    by_invoice_month: bool = False

    def as_dict(self) -> dict:
        return {"months": list(self.months), "closed_through": self.closed_through,
                "rows": [r.as_dict(self.months) for r in self.rows],
                "totals": [r.as_dict(self.months) for r in self.totals]}

    def as_csv(self) -> str:
        """One line per row (totals left out: they are sums of the rows), amounts with the currency's digits."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["legal_entity", "currency", "product", *(["billed_in"] if self.by_invoice_month else []),
                         "measure", *self.months])
        for r in self.rows:
            writer.writerow([r.legal_entity, r.currency, r.product or "", *([r.billed_in] if self.by_invoice_month
                                                                            else []), r.measure,
                             *(format_amount(v, r.currency) for v in r.values)])
        return out.getvalue()


def waterfall(db: Engine | Connection, tenant: str = "default", *, start: str, months: int = 6,
              legal_entity: str | None = None, by_invoice_month: bool = False) -> Waterfall:
    """The waterfall for `months` months from `start` ("YYYY-MM"), optionally for one legal entity."""
    parse_period(start, record="waterfall", field="from")
    if not isinstance(months, int) or not 1 <= months <= 120:
        raise ValidationError(f"{months!r} months: give 1 to 120", record="waterfall", field="months")
    if isinstance(db, Engine):
        with reader(db).connect() as conn:
            return _waterfall(conn, tenant, start, months, legal_entity, by_invoice_month)
    return _waterfall(db, tenant, start, months, legal_entity, by_invoice_month)


def _waterfall(conn: Connection, tenant: str, start: str, count: int, legal_entity: str | None,
               by_invoice_month: bool) -> Waterfall:
    tid = tenant_of(conn, tenant)
    periods = tuple(months_from(start, count))
    query = (select(revenue_schedules.c.id, revenue_schedules.c.product_code, revenue_schedules.c.currency,
                    revenue_schedules.c.issued_on, revenue_schedules.c.void_on, legal_entities.c.code,
                    invoice_lines.c.amount, invoices.c.document_type)
             .join(legal_entities, legal_entities.c.id == revenue_schedules.c.legal_entity_id)
             .join(invoice_lines, invoice_lines.c.id == revenue_schedules.c.line_id)
             .join(invoices, invoices.c.id == revenue_schedules.c.invoice_id)
             .where(revenue_schedules.c.tenant_id == tid))
    if legal_entity is not None:
        query = query.where(revenue_schedules.c.legal_entity_id == legal_entity_id(conn, tid, legal_entity))
    heads = conn.execute(query).all()
    amounts: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for schedule_id, period, amount in conn.execute(
            select(revenue_schedule_periods.c.schedule_id, revenue_schedule_periods.c.period,
                   revenue_schedule_periods.c.amount).where(revenue_schedule_periods.c.tenant_id == tid)):
        amounts[int(schedule_id)][period] = amount
    sums: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO] * count)
    for schedule_id, product, currency, issued_on, void_on, entity, amount, document_type in heads:
        value = -amount if document_type == "credit_note" else amount
        billed = defaultdict(lambda: ZERO)
        billed[period_of(issued_on)] += value
        if void_on is not None:
            billed[period_of(void_on)] -= value
        group = (entity, currency, product, period_of(issued_on) if by_invoice_month else None)
        figures = balances(amounts[int(schedule_id)], billed, periods, credit=value < 0)
        for i, (revenue, deferred, unbilled) in enumerate(figures.values()):
            for measure, figure in zip(MEASURES, (revenue, deferred, unbilled)):
                sums[(*group, measure)][i] += figure
    rows = _rows(sums, lambda key: key)
    totals = _rows(sums, lambda key: (key[0], key[1], None, None, key[4]))
    names = {int(e): c for e, c in conn.execute(select(legal_entities.c.id, legal_entities.c.code)
                                                  .where(legal_entities.c.tenant_id == tid))}
    closed = {names[e]: p for e, p in closed_through(conn, tid).items()
              if legal_entity is None or names[e] == legal_entity}
    return Waterfall(periods, rows, totals, closed, by_invoice_month)


def _rows(sums: dict[tuple, list[Decimal]], key_of) -> tuple[WaterfallRow, ...]:
    """Rows with at least one non-zero value, summed by `key_of`, ordered by entity, product and measure."""
    merged: dict[tuple, list[Decimal]] = {}
    for key, values in sums.items():
        target, before = key_of(key), merged.get(key_of(key))
        merged[target] = list(values) if before is None else [a + b for a, b in zip(before, values)]
    order = {measure: i for i, measure in enumerate(MEASURES)}
    keys = sorted((k for k, v in merged.items() if any(v)),
                  key=lambda k: (k[0], k[1], k[2] or "", k[3] or "", order[k[4]]))
    return tuple(WaterfallRow(k[0], k[1], k[2], k[4], tuple(merged[k]), k[3]) for k in keys)
