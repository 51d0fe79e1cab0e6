"""`invoiceflow revrec schedule` end to end: in-process through Typer, and as a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from invoiceflow.commands.revrec import register

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "revrec"
BOOT = "import typer; from invoiceflow.commands.revrec import register; app = typer.Typer(); register(app); app()"

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)


def invoke(name: str, *extra: str):
    return CliRunner().invoke(app, ["revrec", "schedule", "--contract", str(FIXTURES / name), *extra])


def schedule_of(out: dict, *columns: str) -> list[tuple[str, ...]]:
    return [(row["period"], *(row[c] for c in columns)) for row in out["schedule"]]


def test_monthly_subscription_recognizes_17_and_defers_14():
    result = invoke("monthly_subscription.json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["contract"] == "C-1001" and out["currency"] == "USD"
    assert schedule_of(out, "recognized", "billed", "deferred_revenue") == [
        ("2026-01", "17.00", "31.00", "14.00"),
        ("2026-02", "14.00", "0.00", "0.00"),
    ]
    assert out["waterfall"] == {"as_of": "2026-01", "deferred_revenue": "14.00",
                                "rows": [{"period": "2026-02", "product": "pro-plan", "amount": "14.00"}]}


def test_annual_daily_recognizes_by_day():
    out = json.loads(invoke("annual_daily.json").stdout)
    assert schedule_of(out, "recognized")[:3] == [("2026-01", "31.00"), ("2026-02", "28.00"), ("2026-03", "31.00")]
    assert len(out["lines"][0]["rows"]) == 365
    assert out["schedule"][-1]["cumulative_recognized"] == "365.00"


def test_bundle_allocation_from_the_ssp_library():
    out = json.loads(invoke("bundle.json").stdout)
    assert [(a["line"], a["ssp"], a["allocated"], a["discount_share"]) for a in out["allocation"]] == [
        ("license", "50.00", "33.33", "16.67"),
        ("support", "25.00", "16.67", "8.33"),
        ("training", "75.00", "50.00", "25.00"),
    ]
    # Billed 100.00 up front on the license line; the contract ends with no balance either way.
    assert out["schedule"][-1]["cumulative_recognized"] == "100.00"
    assert (out["schedule"][-1]["deferred_revenue"], out["schedule"][-1]["unbilled_receivable"]) == ("0.00", "0.00")


def test_yen_amounts_have_no_decimals():
    out = json.loads(invoke("bundle_jpy.json").stdout)
    assert [(a["line"], a["allocated"]) for a in out["allocation"]] == [("license", "7000"), ("hosting", "8000")]
    assert out["schedule"][0] == {
        "period": "2026-04", "recognized": "7658", "catch_up": "0", "cumulative_recognized": "7658", "billed": "15000",
        "credited": "0", "deferred_revenue": "7342", "unbilled_receivable": "0",
    }


def test_residual_allowed_and_refused():
    out = json.loads(invoke("residual_allowed.json").stdout)
    assert [(a["line"], a["method"], a["allocated"]) for a in out["allocation"]] == [
        ("license", "ssp", "60.00"), ("services", "residual", "40.00")]
    refused = invoke("residual_refused.json")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.strip() == (
        "error: lines[1] (services).ssp: the residual 40.00 falls outside the SSP range 50.00 to 80.00: "
        "the residual approach cannot be used here; allocate by relative SSP"
    )


def test_events_are_recorded_and_the_journal_balances():
    out = json.loads(invoke("events.json").stdout)
    assert [(e["index"], e["type"]) for e in out["events"]] == [(0, "credit_note"), (1, "upgrade"), (2, "modification")]
    assert out["events"][0]["revenue"] == [
        {"line": "platform", "reduction": "50.00", "contra_revenue": "8.33", "deferred_cleared": "41.67"}]
    assert out["events"][2]["treatment"] == "cumulative_catch_up"
    for entry in out["journal"]:
        debit = sum(Decimal(line["debit"]) for line in entry["lines"])
        assert debit == sum(Decimal(line["credit"]) for line in entry["lines"])
    billed = sum(Decimal(p["billed"]) - Decimal(p["credited"]) for p in out["schedule"])
    last = out["schedule"][-1]
    assert billed == Decimal(last["cumulative_recognized"])
    assert out["waterfall"]["as_of"] == "2026-02"  # closed_through


def test_bad_input_lists_every_problem_and_prints_nothing():
    result = invoke("bad_input.json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: lines[0] (pro).service_period: inverted: end 2026-02-01 is not after start 2026-03-01 "
        "(the end is the first day no longer served)",
        "error: lines[0] (pro).price: must be a decimal string or an integer, not float 31.5 "
        "(floats lose cents; quote the number)",
        "error: lines[1] (support).ssp: no SSP for product 'support': "
        "give the line an ssp or add the product to ssp_library",
        "error: lines[2] (support-renewal).service_period: 2026-12-01 to 2027-12-01 overlaps line 'support' "
        "(2026-01-01 to 2027-01-01) for the same product 'support': a product's subscription periods must not overlap",
        "error: events[0] (modification).date: 2026-03-31 falls in a closed period (closed through 2026-03): "
        "date the modification in an open period",
    ]


def test_schema_problems_are_located():
    result = invoke("not_a_contract.json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: contract.colour: is not a known key",
        "error: contract.currency: 'usd' does not match '^[A-Z]{3}$'",
        "error: lines[0] (x).billing.timing: is required",
        "error: lines[0] (x).obligation: 'rental' is not one of ['subscription', 'usage', 'one_off', 'milestone']",
    ]


def test_missing_file_is_bad_input(tmp_path):
    result = CliRunner().invoke(app, ["revrec", "schedule", "--contract", str(tmp_path / "none.json")])
    assert result.exit_code == 2 and result.stdout == ""
    assert "cannot read" in result.stderr


def test_table_format_prints_the_four_tables():
    result = invoke("monthly_subscription.json", "--format", "table")
    assert result.exit_code == 0, result.output
    for title in ("Allocation (USD)", "Schedule", "Journal lines", "Deferred revenue waterfall"):
        assert title in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("name", "code"), [("monthly_subscription.json", 0), ("bad_input.json", 2)])
def test_runs_as_a_separate_process(name, code):
    proc = subprocess.run(
        [sys.executable, "-c", BOOT, "revrec", "schedule", "--contract", str(FIXTURES / name)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    if code == 0:
        assert json.loads(proc.stdout)["schedule"][0]["recognized"] == "17.00"
        assert proc.stderr == ""
    else:
        assert proc.stdout == ""
        assert len(proc.stderr.splitlines()) == 5
