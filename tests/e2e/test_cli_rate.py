"""`invoiceflow rate` end to end: through the real Typer app, and once as a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invoiceflow.cli import app

SRC = Path(__file__).resolve().parents[2] / "src"
GRADUATED = {
    "currency": "USD",
    "model": "graduated",
    "tiers": [{"up_to": "100", "unit_price": "1", "flat_fee": "0"}, {"up_to": None, "unit_price": "0.5", "flat_fee": "0"}],
}
BAD = {
    "currency": "USD",
    "model": "graduated",
    "tiers": [{"up_to": "100", "unit_price": "1"}, {"up_to": "50", "unit_price": "-1"}, {"up_to": None, "unit_price": 0.5}],
}
BAD_ERRORS = [
    "error: price.tiers[1].up_to: tiers must be ascending: 50 is not above 100",
    "error: price.tiers[1].unit_price: must not be negative, got -1",
    'error: price.tiers[2].unit_price: must be a decimal string or an integer, not float 0.5 (floats lose cents; quote the number: "0.5")',
]


def write(path: Path, doc) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def invoke(*args: str):
    return CliRunner().invoke(app, ["rate", *args])


def test_rates_a_graduated_price(tmp_path):
    result = invoke("--price", write(tmp_path / "price.json", GRADUATED), "--quantity", "150")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('{\n  "amount": "125.00",\n  "precise_amount": "125",')
    out = json.loads(result.stdout)
    assert out["currency"] == "USD" and out["quantity"] == "150"
    assert [(line["kind"], line["tier"], line["quantity"], line["amount"]) for line in out["breakdown"]] == [
        ("tier", 0, "100", "100"),
        ("tier", 1, "50", "25"),
    ]


def test_rates_transactions_from_a_file(tmp_path):
    price = {"currency": "EUR", "model": "percentage", "rate": "1.2", "fixed_fee": "0.10", "free_transactions": 3, "free_amount": "500"}
    result = invoke(
        "--price", write(tmp_path / "price.json", price),
        "--transactions", write(tmp_path / "tx.json", ["100", "300", 200, "50", "1000"]),
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["amount"], out["precise_amount"], out["quantity"]) == ("14.10", "14.1", "1650")
    assert [line["amount"] for line in out["breakdown"]] == ["0", "0", "1.3", "0.7", "12.1"]


@pytest.mark.parametrize(("currency", "amount"), [("JPY", "12"), ("KWD", "12.450"), ("USD", "12.45")])
def test_currency_option_supplies_a_missing_currency(tmp_path, currency, amount):
    price = write(tmp_path / "price.json", {"model": "standard", "unit_price": "0.5"})
    result = invoke("--price", price, "--quantity", "24.9", "--currency", currency)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["amount"] == amount


def test_flat_price_needs_no_quantity(tmp_path):
    result = invoke("--price", write(tmp_path / "price.json", {"currency": "USD", "model": "flat", "amount": "99.00"}))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["amount"] == "99.00"


def test_bad_price_lists_every_problem_and_exits_2(tmp_path):
    result = invoke("--price", write(tmp_path / "price.json", BAD), "--quantity", "10")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == BAD_ERRORS


@pytest.mark.parametrize(
    ("price", "args", "message"),
    [
        (GRADUATED, ["--quantity", "-1"], "error: usage.quantity: must not be negative, got -1"),
        (GRADUATED, ["--quantity", "lots"], "error: usage.quantity: 'lots' is not a number"),
        (GRADUATED, [], "error: usage.quantity: a quantity is required to rate a graduated price"),
        ({"model": "flat", "amount": "1"}, [], 'error: price.currency: no currency: set "currency" in the price or pass one'),
        (GRADUATED, ["--currency", "EUR", "--quantity", "1"], "error: price.currency: price is in USD but EUR was requested"),
    ],
)
def test_bad_usage_exits_2(tmp_path, price, args, message):
    result = invoke("--price", write(tmp_path / "price.json", price), *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message]


@pytest.mark.parametrize(
    ("transactions", "message"),
    [
        (["10", 1.5], "error: usage.transactions[1]: must be a decimal string or an integer, not float 1.5"),
        (["10", "-5"], "error: usage.transactions[1]: refunds are not rated: amount must not be negative, got -5"),
        ({"amount": "10"}, "error: transactions: must be a JSON list of transaction amounts"),
    ],
)
def test_bad_transactions_exit_2(tmp_path, transactions, message):
    price = write(tmp_path / "price.json", {"currency": "USD", "model": "percentage", "rate": "1"})
    result = invoke("--price", price, "--transactions", write(tmp_path / "tx.json", transactions))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(message)


def test_quantity_and_transactions_together_are_refused(tmp_path):
    price = write(tmp_path / "price.json", {"currency": "USD", "model": "percentage", "rate": "1"})
    result = invoke("--price", price, "--quantity", "1", "--transactions", write(tmp_path / "tx.json", ["1"]))
    assert result.exit_code == 2
    assert "either a quantity or transactions, not both" in result.stderr


def test_unreadable_and_malformed_files_exit_2(tmp_path):
    missing = invoke("--price", str(tmp_path / "nope.json"), "--quantity", "1")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: price: cannot read ")
    (tmp_path / "broken.json").write_text('{"model": ', encoding="utf-8")
    broken = invoke("--price", str(tmp_path / "broken.json"), "--quantity", "1")
    assert broken.exit_code == 2
    assert "is not valid JSON" in broken.stderr


@pytest.mark.slow
def test_as_a_separate_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c", "from invoiceflow.cli import main; main()", "rate"]

    ok = subprocess.run(
        [*command, "--price", write(tmp_path / "price.json", GRADUATED), "--quantity", "150"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["amount"] == "125.00"
    assert ok.stdout.startswith('{\n  "amount"')

    bad = subprocess.run(
        [*command, "--price", write(tmp_path / "bad.json", BAD), "--quantity", "10"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.splitlines() == BAD_ERRORS
