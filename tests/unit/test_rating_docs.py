"""docs/pricing.md is executable: its JSON prices, example tables and console sessions are checked here.

Conventions of the page that this reader relies on: a ```json block holding a price is followed by tables
whose first column is `quantity` or `transactions` and which have `precise_amount` and `amount` columns;
```console blocks are sessions of `$ cat FILE` (file contents follow), `$ invoiceflow ...` (its output
follows) and `$ echo $?` (the exit code follows).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from jsonschema import Draft202012Validator

import invoiceflow
from invoiceflow.commands import rate as rate_command
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price

from docpages import blocks, read_page, replay_session

PAGE = Path(__file__).resolve().parents[2] / "docs" / "pricing.md"
# Only the rate command, so this page is checked even while other commands are being built.
# tests/e2e/test_cli_rate.py runs the same command through the full invoiceflow.cli app.
app = typer.Typer(name="invoiceflow", add_completion=False, pretty_exceptions_enable=False)
rate_command.register(app)
SCHEMA = json.loads((Path(invoiceflow.__file__).parent / "schemas" / "price.schema.json").read_text("utf-8"))


ITEMS = read_page(PAGE)
PRICES = [json.loads(text) for text in blocks(ITEMS, "json")]


def example_rows() -> list[tuple[dict, dict]]:
    examples, price = [], None
    for kind, value in ITEMS:
        if kind == "block" and value[0] == "json":
            price = json.loads(value[1])
        elif kind == "table" and value and {"precise_amount", "amount"} <= set(value[0]):
            first = next(iter(value[0]))
            if first in ("quantity", "transactions"):
                assert price is not None, "an example table must follow a price"
                examples.extend((price, row) for row in value)
    return examples


EXAMPLES = example_rows()
SESSIONS = blocks(ITEMS, "console")


def test_the_page_has_its_examples():
    assert len(PRICES) >= 13
    assert len(EXAMPLES) >= 50
    assert len(SESSIONS) >= 3


@pytest.mark.parametrize("doc", PRICES, ids=[p.get("model", "?") for p in PRICES])
def test_every_json_example_is_a_valid_price(doc):
    parse_price(doc)
    Draft202012Validator(SCHEMA).validate(doc)


@pytest.mark.parametrize(("doc", "row"), EXAMPLES, ids=[f"{p['model']}-{p['currency']}-{r.get('quantity', r.get('transactions'))}" for p, r in EXAMPLES])
def test_every_example_row_matches_the_engine(doc, row):
    price = parse_price(doc)
    if "transactions" in row:
        result = rate(price, transactions=[t.strip() for t in row["transactions"].split(",")])
    else:
        result = rate(price, None if row["quantity"] == "(default)" else row["quantity"])
    out = result.as_dict()
    assert (out["precise_amount"], out["amount"]) == (row["precise_amount"], row["amount"])


@pytest.mark.parametrize("session", SESSIONS, ids=[f"session{i}" for i in range(len(SESSIONS))])
def test_every_console_session_matches_the_cli(session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    replay_session(app, session, tmp_path, json_stdout=True)