"""The demo's revenue step: recognize the demo tenant's revenue through October 2026 and show the deferred
revenue waterfall from September, six months, per legal entity and product.

`revenue_waterfall` does the work and returns the rows to print; `print_waterfall` prints them with Rich.
Both are idempotent like every demo step: a rerun posts nothing new and prints the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from invoiceflow.clock import Clock
from invoiceflow.money import format_amount
from invoiceflow.revenue import RecognitionReport, Waterfall, recognize_through, waterfall
from invoiceflow.revrec.journal import period_of

THROUGH, FROM, MONTHS = "2026-10", "2026-09", 6
LABELS = {"revenue": "revenue", "deferred": "deferred at month end", "unbilled": "unbilled at month end"}


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One printed line: a product's revenue by month, or an entity's closing balances (product None)."""

    legal_entity: str
    currency: str
    product: str | None
    measure: str
    values: tuple[str, ...]  # formatted with the currency's digits


@dataclass(frozen=True, slots=True)
class DemoWaterfall:
    """What the demo prints: the rows (iterating it gives them), their months, and the recognition run."""

    months: tuple[str, ...]
    rows: tuple[DemoRow, ...]
    recognition: RecognitionReport

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def revenue_waterfall(engine, tenant: str, clock: Clock) -> DemoWaterfall:
    """Recognize `tenant`'s revenue through 2026-10, then take the waterfall from 2026-09 for six months:
    per product the revenue of each month, and per legal entity the deferred revenue (and unbilled
    receivable) at each month end. A clock still inside October recognizes through the last month over."""
    report = recognize_through(engine, tenant, min(THROUGH, _last_ended(clock)), clock=clock, actor="revrec")
    fall = waterfall(engine, tenant, start=FROM, months=MONTHS)
    return DemoWaterfall(fall.months, _rows(fall), report)


def _last_ended(clock: Clock) -> str:
    first = clock.now().date().replace(day=1)
    return period_of(first - timedelta(days=1))


def _rows(fall: Waterfall) -> tuple[DemoRow, ...]:
    rows: list[DemoRow] = []
    products = [r for r in fall.rows if r.measure == "revenue"]
    entities = sorted({(r.legal_entity, r.currency) for r in fall.rows})
    for entity, currency in entities:
        rows += [_row(r.legal_entity, r.currency, r.product or "(no product)", "revenue", r.values)
                 for r in products if (r.legal_entity, r.currency) == (entity, currency)]
        rows += [_row(entity, currency, None, t.measure, t.values) for t in fall.totals
                 if (t.legal_entity, t.currency) == (entity, currency) and t.measure != "revenue"]
    return tuple(rows)


def _row(entity: str, currency: str, product: str | None, measure: str, values: tuple[Decimal, ...]) -> DemoRow:
    return DemoRow(entity, currency, product, measure, tuple(format_amount(v, currency) for v in values))


def print_waterfall(rows: DemoWaterfall, console: Console | None = None) -> None:
    """One Rich table: revenue per product and month, then each entity's balances at the month ends."""
    if console is None:
        from invoiceflow.commands.common import console  # the CLI's console: the demo prints through it
    report = rows.recognition
    table = Table(title=f"Deferred revenue waterfall, {rows.months[0]} to {rows.months[-1]} (recognized through "
                        f"{report.through}; later months as scheduled)", title_justify="left")
    for column in ("entity", "currency", "product", "measure"):
        table.add_column(column)
    for month in rows.months:
        table.add_column(month, justify="right")
    previous = None
    for row in rows:
        first = (row.legal_entity, row.currency) != previous
        if first and previous is not None:
            table.add_section()
        previous = (row.legal_entity, row.currency)
        measure = LABELS[row.measure]
        table.add_row(escape(row.legal_entity) if first else "", row.currency if first else "",
                      escape(row.product) if row.product else "[bold]all products[/bold]",
                      measure if row.product else f"[bold]{measure}[/bold]", *row.values)
    console.print(table)
    console.print(f"    revenue recognition through {report.through}: {len(report.entries)} journal entries posted, "
                  f"{report.schedules} schedules ({report.created} new)"
                  + (f", {len(report.waiting)} issued documents waiting for the ledger" if report.waiting else ""),
                  highlight=False)
