"""Journal lines, balances and the waterfall."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoiceflow.revrec.contract_input import parse_contract
from invoiceflow.revrec.engine import recognize
from invoiceflow.revrec.journal import ROLES, position_lines
from invoiceflow.revrec.report import as_document

D = Decimal


def sub(id: str, price: str, start: str = "2026-01-01", end: str = "2027-01-01", **extra) -> dict:
    line = {"id": id, "product": id, "obligation": "subscription", "price": price, "ssp": price,
            "service_period": {"start": start, "end": end}, "granularity": "monthly_even",
            "billing": {"timing": "advance"}}
    return {**line, **extra}


def run(lines: list[dict], events: list[dict] | None = None, **top) -> dict:
    return as_document(recognize(parse_contract({"currency": "USD", "lines": lines, "events": events or [], **top})))


def flat(out: dict) -> list[tuple[str, str, str, str, str]]:
    return [(e["date"], e["entry"], line["role"], line["debit"], line["credit"])
            for e in out["journal"] for line in e["lines"]]


@pytest.mark.parametrize(
    ("balance", "delta", "expected"),
    [
        ("0", "100", [("deferred_revenue", "0", "100")]),
        ("-30", "100", [("unbilled_receivable", "0", "30"), ("deferred_revenue", "0", "70")]),  # reclassification
        ("-130", "100", [("unbilled_receivable", "0", "100")]),
        ("50", "-20", [("deferred_revenue", "20", "0")]),
        ("50", "-80", [("deferred_revenue", "50", "0"), ("unbilled_receivable", "30", "0")]),
        ("-10", "-20", [("unbilled_receivable", "20", "0")]),
        ("10", "0", []),
    ],
)
def test_position_lines_clear_the_opposite_balance_first(balance, delta, expected):
    lines = position_lines(D(balance), D(delta))
    assert [(line["role"], str(line["debit"]), str(line["credit"])) for line in lines] == expected


def test_billing_in_advance_defers_and_recognition_releases():
    out = run([sub("pro", "31.00", "2026-01-15", "2026-02-15", granularity="monthly_prorated")])
    assert flat(out) == [
        ("2026-01-15", "billing", "accounts_receivable", "31.00", "0.00"),
        ("2026-01-15", "billing", "deferred_revenue", "0.00", "31.00"),
        ("2026-01-31", "recognition", "revenue", "0.00", "17.00"),
        ("2026-01-31", "recognition", "deferred_revenue", "17.00", "0.00"),
        ("2026-02-28", "recognition", "revenue", "0.00", "14.00"),
        ("2026-02-28", "recognition", "deferred_revenue", "14.00", "0.00"),
    ]


def test_billing_in_arrears_reclassifies_the_unbilled_receivable():
    out = run([sub("q", "90.00", "2026-01-01", "2026-04-01", billing={"timing": "arrears"})])
    assert flat(out)[-2:] == [
        ("2026-04-01", "billing", "accounts_receivable", "90.00", "0.00"),
        ("2026-04-01", "billing", "unbilled_receivable", "0.00", "90.00"),
    ]
    assert [e["entry"] for e in out["journal"]] == ["recognition"] * 3 + ["billing"]


def test_revenue_lines_are_per_product_and_contra_revenue_is_a_debit():
    out = run([sub("a", "120.00"), sub("b", "240.00")],
              [{"type": "void", "date": "2026-03-01", "invoice": "2026-01-01"}])
    january = next(e for e in out["journal"] if e["entry"] == "recognition")
    assert [(line["role"], line.get("product"), line["credit"]) for line in january["lines"][:2]] == [
        ("revenue", "a", "10.00"), ("revenue", "b", "20.00")]
    void = next(e for e in out["journal"] if e["entry"] == "void")
    assert [(line["role"], line.get("product"), line["debit"], line["credit"]) for line in void["lines"]] == [
        ("accounts_receivable", None, "0.00", "360.00"),
        ("contra_revenue", "a", "20.00", "0.00"),
        ("contra_revenue", "b", "40.00", "0.00"),
        ("deferred_revenue", None, "300.00", "0.00"),
    ]
    assert {line["role"] for e in out["journal"] for line in e["lines"]} <= set(ROLES)


def test_entries_balance_and_the_running_balances_match_the_schedule():
    usage = {"id": "api", "product": "api", "obligation": "usage",
             "service_period": {"start": "2026-01-01", "end": "2026-07-01"},
             "usage": [{"date": "2026-01-05", "amount": "40.00"}, {"date": "2026-04-05", "amount": "5.00"}],
             "billing": {"timing": "arrears", "interval": "quarterly"}}
    out = run([sub("a", "120.00", billing={"timing": "arrears", "interval": "quarterly"}), usage],
              [{"type": "credit_note", "date": "2026-04-15", "invoice": "2026-04-01", "amount": "20.00"},
               {"type": "upgrade", "date": "2026-05-01", "line": "a", "price": "240.00"}])
    totals: dict[str, dict[str, Decimal]] = {}
    for entry in out["journal"]:
        assert sum(D(line["debit"]) for line in entry["lines"]) == sum(D(line["credit"]) for line in entry["lines"])
        for line in entry["lines"]:
            per = totals.setdefault(entry["period"], {})
            per[line["role"]] = per.get(line["role"], D(0)) + D(line["debit"]) - D(line["credit"])
    running: dict[str, Decimal] = {}
    for row in out["schedule"]:
        for role, amount in totals.get(row["period"], {}).items():
            running[role] = running.get(role, D(0)) + amount
        assert -running.get("deferred_revenue", D(0)) == D(row["deferred_revenue"])
        assert running.get("unbilled_receivable", D(0)) == D(row["unbilled_receivable"])
        revenue = -running.get("revenue", D(0)) - running.get("contra_revenue", D(0))
        assert revenue == D(row["cumulative_recognized"])


@pytest.mark.parametrize(
    ("as_of", "deferred", "rows"),
    [
        ("2026-10", "40.00", [("2026-11", "platform", "20.00"), ("2026-11", "support", "5.00"),
                              ("2026-12", "platform", "12.00"), ("2026-12", "support", "3.00")]),
        # The 40.00 deferred at January's end: February is used whole, March only partly, split by product.
        ("2026-01", "40.00", [("2026-02", "platform", "20.00"), ("2026-02", "support", "5.00"),
                              ("2026-03", "platform", "12.00"), ("2026-03", "support", "3.00")]),
        ("2026-12", "0.00", []),
    ],
)
def test_the_waterfall_releases_deferred_revenue_earliest_first(as_of, deferred, rows):
    lines = [sub("platform", "240.00", billing={"timing": "advance", "interval": "quarterly"}),
             sub("support", "60.00", billing={"timing": "advance", "interval": "monthly"})]
    fall = run(lines, as_of=as_of)["waterfall"]
    assert (fall["as_of"], fall["deferred_revenue"]) == (as_of, deferred)
    assert [(r["period"], r["product"], r["amount"]) for r in fall["rows"]] == rows
    assert sum((D(r["amount"]) for r in fall["rows"]), D(0)) == D(deferred)


def test_the_waterfall_ignores_later_events_and_lists_unscheduled_milestones():
    milestone = {"id": "impl", "product": "impl", "obligation": "milestone", "price": "500.00", "ssp": "500.00",
                 "service_period": {"start": "2026-01-01", "end": "2026-06-01"}, "completed_on": None,
                 "billing": {"timing": "advance"}}
    out = run([sub("platform", "120.00"), milestone], [{"type": "void", "date": "2026-05-01", "invoice": "2026-01-01"}],
              closed_through="2026-03")
    fall = out["waterfall"]
    assert (fall["as_of"], fall["deferred_revenue"]) == ("2026-03", "590.00")
    assert fall["rows"][-1] == {"period": "unscheduled", "product": "impl", "amount": "500.00"}
    assert [r["period"] for r in fall["rows"][:-1]] == [f"2026-{m:02d}" for m in range(4, 13)]


@pytest.mark.parametrize(
    ("billing", "expected"),
    [
        ({"timing": "advance", "interval": "monthly"}, [(f"2026-{m:02d}", "100.00") for m in range(1, 13)]),
        ({"timing": "arrears", "interval": "quarterly"},
         [("2026-04", "300.00"), ("2026-07", "300.00"), ("2026-10", "300.00"), ("2027-01", "300.00")]),
        ({"timing": "advance"}, [("2026-01", "1200.00")]),
        ({"timing": "arrears"}, [("2027-01", "1200.00")]),
        ({"timing": "advance",
          "invoices": [{"date": "2026-02-01", "amount": "200.00"}, {"date": "2026-06-01", "amount": "1000.00"}]},
         [("2026-02", "200.00"), ("2026-06", "1000.00")]),
    ],
)
def test_billing_terms(billing, expected):
    out = run([sub("platform", "1200.00", billing=billing)], policy={"catch_up": True})
    assert [(row["period"], row["billed"]) for row in out["schedule"] if row["billed"] != "0.00"] == expected


def test_a_partial_last_billing_period_is_billed_for_the_share_it_covers():
    # Two full months and half of a 30-day April: weights 1, 1 and 15/30.
    monthly = {"timing": "advance", "interval": "monthly"}
    out = run([sub("platform", "500.00", "2026-02-01", "2026-04-16", billing=monthly)])
    assert [(row["period"], row["billed"]) for row in out["schedule"] if row["billed"] != "0.00"] == [
        ("2026-02", "200.00"), ("2026-03", "200.00"), ("2026-04", "100.00")]
