"""docs/revenue-recognition.md is executable: its contracts, example tables and console sessions are checked.

Conventions of the page that this reader relies on: a ```json block holding `lines` is a contract; the tables
after it, up to the next contract, are checked against its result when their first column is one of
`period` (schedule rows), `line` (allocation), `event` (what events did per line), `date` + `entry`
(journal lines, all of them from the table's first date on), `waterfall period` or `proration line`. Every
other table is reference text. ```console blocks are sessions of `$ cat FILE`, `$ invoiceflow ...` and
`$ echo $?`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from jsonschema import Draft202012Validator

from invoiceflow.commands import revrec as revrec_command
from invoiceflow.revrec.contract_input import parse_contract, schema
from invoiceflow.revrec.engine import recognize
from invoiceflow.revrec.report import as_document

from docpages import blocks, read_page, replay_session

PAGE = Path(__file__).resolve().parents[2] / "docs" / "revenue-recognition.md"
app = typer.Typer(name="invoiceflow", add_completion=False, pretty_exceptions_enable=False)
revrec_command.register(app)
CHECKED = ("period", "line", "event", "date", "waterfall period", "proration line")


ITEMS = read_page(PAGE, keep_empty_tables=True)
CONTRACTS = [json.loads(text) for text in blocks(ITEMS, "json")]
SESSIONS = blocks(ITEMS, "console")


def example_tables() -> list[tuple[int, dict, list[dict]]]:
    examples, contract, number = [], None, -1
    for kind, value in ITEMS:
        if kind == "block" and value[0] == "json":
            contract, number = json.loads(value[1]), number + 1
        elif kind == "table" and next(iter(value[0])) in CHECKED:
            assert contract is not None, "an example table must follow a contract"
            examples.append((number, contract, value))
    return examples


EXAMPLES = example_tables()


def result_of(contract: dict) -> dict:
    return as_document(recognize(parse_contract(contract)))


def test_the_page_has_its_examples():
    assert len(CONTRACTS) >= 25
    assert len(EXAMPLES) >= 30
    assert len(SESSIONS) >= 2


@pytest.mark.parametrize("contract", CONTRACTS, ids=[f"contract{i}" for i in range(len(CONTRACTS))])
def test_every_contract_is_valid(contract):
    Draft202012Validator(schema()).validate(contract)
    parse_contract(contract)


def _compare(rows: list[dict], actual: list[dict], key: str | None) -> None:
    if key is None:
        assert [{k: row.get(k, "") for k in rows[0]} for row in actual] == rows
        return
    by_key = {row[key]: row for row in actual}
    for row in rows:
        got = by_key[row[key]]
        assert {k: "" if got.get(k) is None else str(got.get(k)) for k in row} == row


@pytest.mark.parametrize(("number", "contract", "rows"), EXAMPLES,
                         ids=[f"contract{n}-{next(iter(r[0]))}" for n, _, r in EXAMPLES])
def test_every_example_table_matches_the_engine(number, contract, rows):
    out = result_of(contract)
    first = next(iter(rows[0]))
    if first == "period":
        _compare(rows, out["schedule"], "period")
    elif first == "line":
        _compare(rows, out["allocation"], "line")
    elif first == "event":
        actual = [{"event": str(e["index"]), **r}
                  for e in out["events"] for r in e.get("revenue", []) + e.get("reallocation", [])]
        assert len(actual) == len(rows)
        for row, got in zip(rows, actual):
            assert {k: str(got[k]) for k in row} == row
    elif first == "date":
        actual = [{"date": e["date"], "entry": e["entry"], **line} for e in out["journal"] for line in e["lines"]]
        _compare(rows, [line for line in actual if line["date"] >= rows[0]["date"]], None)
    elif first == "waterfall period":
        actual = [{"waterfall period": r["period"], "product": r["product"], "amount": r["amount"]}
                  for r in out["waterfall"]["rows"]]
        _compare(rows, actual, None)
    else:
        actual = [{"proration line": p["line"], "amount": p["amount"]}
                  for e in out["events"] for p in e.get("proration_lines", [])]
        _compare(rows, actual, None)


@pytest.mark.parametrize("session", SESSIONS, ids=[f"session{i}" for i in range(len(SESSIONS))])
def test_every_console_session_matches_the_cli(session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    replay_session(app, session, tmp_path, json_stdout=False)


def test_the_worked_examples_of_the_issue_are_on_the_page():
    """The page keeps the headline numbers: 17.00 / 14.00, 31 / 28 / 31, and 33.33 / 16.67 / 50.00."""
    text = PAGE.read_text(encoding="utf-8")
    for fragment in ("| 2026-01 | 17.00 | 17.00 | 31.00 | 14.00 | 0.00 |", "| 2026-02 | 28.00 | 59.00 |",
                     "| license | 50.00 | 0.333333 | 33.33 | 16.67 | relative_ssp |"):
        assert fragment in text
