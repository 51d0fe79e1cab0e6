"""`invoiceflow revrec schedule`: revenue recognition for one contract file, with no database.

A thin shell over invoiceflow.revrec: read the contract (JSON Schema, then meaning checks), recognize,
print JSON (or Rich tables). Bad input prints `error: <record>.<field>: <message>` lines on stderr, exits
with code 2 and prints nothing on stdout, so a script never mistakes a partial result for an answer.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from invoiceflow.commands.common import console
from invoiceflow.errors import ValidationError
from invoiceflow.revrec.contract_input import load_contract
from invoiceflow.revrec.engine import recognize
from invoiceflow.revrec.report import as_document

EXIT_INVALID = 2
_TEXT = ("line", "product", "period", "date", "role", "entry", "method")

revrec_app = typer.Typer(
    name="revrec", help="Revenue recognition (ASC 606 / IFRS 15): allocation, schedules, journal lines.",
    no_args_is_help=True, add_completion=False,
)


class OutputFormat(str, Enum):
    json = "json"
    table = "table"


@revrec_app.callback()
def _revrec() -> None:
    """Revenue recognition (ASC 606 / IFRS 15): allocation, schedules, journal lines."""


@revrec_app.command("schedule")
def schedule_command(
    contract: Annotated[
        Path, typer.Option("--contract", help="Contract file (JSON), see docs/revenue-recognition.md.")
    ],
    output: Annotated[OutputFormat, typer.Option("--format", help="json (default) or table.")] = OutputFormat.json,
) -> None:
    """Allocate a contract's price and print its recognition schedule, balances, journal lines and waterfall."""
    try:
        document = as_document(recognize(load_contract(contract)))
    except ValidationError as error:
        for problem in error.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if output is OutputFormat.json:
        typer.echo(json.dumps(document, indent=2))
    else:
        print_tables(document)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in _TEXT else "right", overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def print_tables(doc: dict[str, Any]) -> None:
    currency = doc["currency"]
    keys = ["line", "product", "method", "price", "ssp", "relative_share", "allocated", "discount_share"]
    console.print(_table(f"Allocation ({currency})", keys, [[a[k] for k in keys] for a in doc["allocation"]]))
    keys = ["period", "recognized", "catch_up", "cumulative_recognized", "billed", "credited", "deferred_revenue",
            "unbilled_receivable"]
    console.print(_table("Schedule", keys, [[p[k] for k in keys] for p in doc["schedule"]]))
    journal = [[e["period"], e["date"], e["entry"], line["role"], line.get("product"), line["debit"], line["credit"]]
               for e in doc["journal"] for line in e["lines"]]
    console.print(_table("Journal lines", ["period", "date", "entry", "role", "product", "debit", "credit"], journal))
    fall = doc["waterfall"]
    keys = ["period", "product", "amount"]
    console.print(_table(f"Deferred revenue waterfall at {fall['as_of']}: {fall['deferred_revenue']}", keys,
                         [[r[k] for k in keys] for r in fall["rows"]]))


def register(app: typer.Typer) -> None:
    app.add_typer(revrec_app, name="revrec")
