"""`invoiceflow rate`: rate one price document against a quantity or a list of transactions.

A thin shell over invoiceflow.rating: read JSON files, call parse_price and rate, print the Rating as JSON.
Bad input is reported as `error: <record>.<field>: <message>` lines on stderr with exit code 2, so a
finance user can fix the file without reading a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from invoiceflow.errors import PricingError, Problem
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price

EXIT_INVALID = 2


def _fail(problems: list[Problem]) -> typer.Exit:
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    return typer.Exit(EXIT_INVALID)


def _read_json(path: Path, record: str) -> Any:
    """Load a JSON file; floats are kept as floats so parse_price/rate can refuse them by name."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PricingError(f"cannot read {path}: {error.strerror or error}", record=record) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PricingError(f"{path} is not valid JSON: {error}", record=record) from None


def rate_command(
    price: Annotated[Path, typer.Option("--price", help="Price document (JSON), see docs/pricing.md.")],
    quantity: Annotated[
        Optional[str], typer.Option("--quantity", help="Units to rate (a decimal, e.g. 150 or 1.5).")
    ] = None,
    transactions: Annotated[
        Optional[Path],
        typer.Option("--transactions", help="JSON list of transaction amounts (strings or integers)."),
    ] = None,
    currency: Annotated[
        Optional[str], typer.Option("--currency", help="Currency when the price has none (ISO 4217).")
    ] = None,
) -> None:
    """Rate a price and print amount, precise_amount, currency, quantity and breakdown as JSON."""
    try:
        parsed = parse_price(_read_json(price, "price"), record="price", currency=currency)
        amounts = _read_json(transactions, "transactions") if transactions is not None else None
        if amounts is not None and not isinstance(amounts, list):
            raise PricingError("must be a JSON list of transaction amounts", record="transactions")
        rating = rate(parsed, quantity, transactions=amounts)
    except PricingError as error:
        raise _fail(error.problems) from None
    typer.echo(json.dumps(rating.as_dict(), indent=2))


def _keep_subcommands() -> None:
    pass


def register(app: typer.Typer) -> None:
    app.command("rate")(rate_command)
    # Typer runs a lone command without its name unless the app has a callback. Add an empty one only if
    # cli.py has none, so `invoiceflow rate` keeps working whatever other commands are registered.
    if not app.registered_callback and not app.info.callback:
        app.callback()(_keep_subcommands)
