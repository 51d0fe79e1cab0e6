"""docs/pricing.md is executable: its JSON prices, example tables and console sessions are checked here.

Conventions of the page that this reader relies on: a ```json block holding a price is followed by tables
whose first column is `quantity` or `transactions` and which have `precise_amount` and `amount` columns;
```console blocks are sessions of `$ cat FILE` (file contents follow), `$ invoiceflow ...` (its output
follows) and `$ echo $?` (the exit code follows).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import typer
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

import invoiceflow
from invoiceflow.commands import rate as rate_command
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price

PAGE = Path(__file__).resolve().parents[2] / "docs" / "pricing.md"
# Only the rate command, so this page is checked even while other commands are being built.
# tests/e2e/test_cli_rate.py runs the same command through the full invoiceflow.cli app.
app = typer.Typer(name="invoiceflow", add_completion=False, pretty_exceptions_enable=False)
rate_command.register(app)
SCHEMA = json.loads((Path(invoiceflow.__file__).parent / "schemas" / "price.schema.json").read_text("utf-8"))


def read_page() -> list[tuple[str, object]]:
    """The page as a sequence of ("block", (lang, text)) and ("table", rows-as-dicts) items."""
    items: list[tuple[str, object]] = []
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang, body = line[3:].strip(), []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            items.append(("block", (lang, "\n".join(body))))
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([cell.strip() for cell in lines[i].strip().strip("|").split("|")])
                i += 1
            header, body_rows = rows[0], rows[2:]
            items.append(("table", [dict(zip(header, row)) for row in body_rows]))
            continue
        i += 1
    return items


ITEMS = read_page()
PRICES = [json.loads(text) for kind, (lang, text) in ((k, v) for k, v in ITEMS if k == "block") if lang == "json"]


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
SESSIONS = [text for kind, (lang, text) in ((k, v) for k, v in ITEMS if k == "block") if lang == "console"]


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
    runner = CliRunner()
    commands: list[tuple[str, list[str]]] = []
    for line in session.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            commands[-1][1].append(line)
    result = None
    for command, output in commands:
        argv = shlex.split(command)
        if argv[0] == "cat":
            (tmp_path / argv[1]).write_text("\n".join(output) + "\n", encoding="utf-8")
        elif argv[0] == "invoiceflow":
            result = runner.invoke(app, argv[1:])
            expected = "\n".join(output)
            if result.exit_code == 0:
                assert result.stdout.rstrip("\n") == expected
                json.loads(result.stdout)
            else:
                assert result.stderr.rstrip("\n") == expected
                assert result.stdout == ""
        elif command == "echo $?":
            assert result is not None and [str(result.exit_code)] == output
        else:
            raise AssertionError(f"unexpected command in docs/pricing.md: {command}")
    if result is not None and not any(c == "echo $?" for c, _ in commands):
        assert result.exit_code == 0
