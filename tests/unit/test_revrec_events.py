"""Events: reductions (credit note, refund, void, uncollectible), upgrades and downgrades, modifications."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoiceflow.errors import ValidationError
from invoiceflow.revrec.contract_input import parse_contract
from invoiceflow.revrec.engine import recognize
from invoiceflow.revrec.report import as_document

D = Decimal


def sub(id: str, price: str, start: str = "2026-01-01", end: str = "2027-01-01", ssp: str | None = None,
        **extra) -> dict:
    line = {"id": id, "product": id, "obligation": "subscription", "price": price, "ssp": ssp or price,
            "service_period": {"start": start, "end": end}, "billing": {"timing": "advance"}}
    return {**line, **extra}


def one_off(id: str, price: str, ssp: str, day: str = "2026-01-10") -> dict:
    return {"id": id, "product": id, "obligation": "one_off", "price": price, "ssp": ssp, "delivered_on": day,
            "billing": {"timing": "advance"}}


def event(kind: str, day: str, **fields) -> dict:
    return {"type": kind, "date": day, **fields}


def run(lines: list[dict], events: list[dict], **top) -> dict:
    return as_document(recognize(parse_contract({"currency": "USD", "lines": lines, "events": events, **top})))


def month(out: dict, period: str) -> dict:
    return next(row for row in out["schedule"] if row["period"] == period)


def revenue(out: dict, index: int = 0) -> list[tuple[str, str, str, str]]:
    rows = out["events"][index]["revenue"]
    return [(r["line"], r["reduction"], r["contra_revenue"], r["deferred_cleared"]) for r in rows]


def problems(lines: list[dict], events: list[dict], **top) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as caught:
        run(lines, events, **top)
    return [(p.record, p.field, p.message) for p in caught.value.problems]


ANNUAL = [sub("annual", "365.00")]
TAKEN_BACK = [
    # (event fields, reduction, contra-revenue, deferred cleared, April's revenue)
    ({"type": "credit_note", "amount": "36.50"}, "36.50", "9.00", "27.50", "18.00"),
    ({"type": "refund", "amount": "36.50"}, "36.50", "9.00", "27.50", "18.00"),
    ({"type": "uncollectible", "amount": "73.00"}, "73.00", "18.00", "55.00", "6.00"),
    ({"type": "uncollectible"}, "365.00", "90.00", "275.00", "-90.00"),
    ({"type": "void"}, "365.00", "90.00", "275.00", "-90.00"),
    ({"type": "credit_note", "lines": [{"line": "annual", "amount": "36.50"}]}, "36.50", "9.00", "27.50", "18.00"),
]


@pytest.mark.parametrize(("fields", "reduction", "contra", "cleared", "april"), TAKEN_BACK,
                         ids=["credit_note", "refund", "uncollectible-part", "uncollectible-all", "void", "by-line"])
def test_reductions_reverse_the_recognized_share_and_clear_the_rest(fields, reduction, contra, cleared, april):
    out = run(ANNUAL, [{"date": "2026-04-10", "invoice": "2026-01-01", **fields}])
    assert revenue(out) == [("annual", reduction, contra, cleared)]
    assert (month(out, "2026-04")["recognized"], month(out, "2026-04")["credited"]) == (april, reduction)
    assert month(out, "2026-03")["cumulative_recognized"] == "90.00"  # earlier periods keep their revenue
    assert out["schedule"][-1]["cumulative_recognized"] == str(D("365.00") - D(reduction))
    assert all(D(row["cumulative_recognized"]) >= 0 for row in out["schedule"])


@pytest.mark.parametrize(("kind", "role"), [("refund", "cash"), ("credit_note", "accounts_receivable"),
                                            ("void", "accounts_receivable"), ("uncollectible", "accounts_receivable")])
def test_a_refund_pays_back_cash_and_the_others_reduce_the_receivable(kind, role):
    amount = {} if kind in ("void", "uncollectible") else {"amount": "36.50"}
    out = run(ANNUAL, [event(kind, "2026-04-10", invoice="2026-01-01", **amount)])
    (entry,) = [e for e in out["journal"] if e["entry"] == kind]
    assert entry["lines"][0]["role"] == role and entry["lines"][0]["credit"] != "0.00"


def test_an_invoice_credit_without_lines_is_spread_over_its_lines():
    out = run([sub("a", "300.00"), sub("b", "100.00")],
              [event("credit_note", "2026-01-01", invoice="2026-01-01", amount="10.00")])
    assert out["events"][0]["billing"] == [{"line": "a", "amount": "7.50"}, {"line": "b", "amount": "2.50"}]
    assert [r[1] for r in revenue(out)] == ["7.50", "2.50"]


def test_a_bundle_void_moves_the_excess_to_the_other_obligations():
    lines = [one_off("license", "100.00", "50.00"), one_off("support", "0", "25.00"),
             one_off("training", "0", "75.00", "2026-03-01")]
    out = run(lines, [event("void", "2026-02-01", invoice="2026-01-10")])
    assert revenue(out) == [("license", "33.33", "33.33", "0.00"), ("support", "16.67", "16.67", "0.00"),
                            ("training", "50.00", "0.00", "50.00")]
    assert [(r["period"], r["cumulative_recognized"], r["deferred_revenue"]) for r in out["schedule"]] == [
        ("2026-01", "50.00", "50.00"), ("2026-02", "0.00", "0.00")]


def test_two_credits_cannot_take_more_than_the_invoice():
    events = [event("credit_note", "2026-02-01", invoice="2026-01-01", amount="300.00"),
              event("credit_note", "2026-03-01", invoice="2026-01-01", amount="100.00")]
    assert problems(ANNUAL, events) == [
        ("events[1] (credit_note)", "amount", "100.00 is more than the 65.00 still open on invoice 2026-01-01")]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"type": "void", "invoice": "2026-01-02"}, "invoice", "there is no invoice dated 2026-01-02"),
        ({"type": "void", "invoice": "2026-01-01", "date": "2025-12-31"}, "invoice",
         "invoice 2026-01-01 is dated after the void (2025-12-31)"),
        ({"type": "credit_note", "invoice": "2026-01-01", "amount": "400.00"}, "amount",
         "400.00 is more than the 365.00 still open on invoice 2026-01-01"),
        ({"type": "credit_note", "invoice": "2026-01-01", "lines": [{"line": "other", "amount": "1.00"}]},
         "lines[0].line", "line 'other' is not on invoice 2026-01-01"),
        ({"type": "refund", "invoice": "2026-01-01",
          "lines": [{"line": "annual", "amount": "200.00"}, {"line": "annual", "amount": "200.00"}]},
         "lines[1].amount", "400.00 is more than the 365.00 still open for line 'annual' on invoice 2026-01-01"),
    ],
)
def test_reductions_that_cannot_apply(fields, field, message):
    kind = fields["type"]
    assert problems(ANNUAL, [{"date": "2026-04-10", **fields}]) == [(f"events[0] ({kind})", field, message)]


def test_a_second_void_finds_nothing_open():
    events = [event("void", "2026-02-01", invoice="2026-01-01"), event("void", "2026-02-02", invoice="2026-01-01")]
    assert problems(ANNUAL, events) == [("events[1] (void)", "invoice", "nothing is left open on invoice 2026-01-01")]


@pytest.mark.parametrize(
    ("kind", "price", "credit", "charge", "july"),
    [("upgrade", "730.00", "-184.00", "368.00", "62.00"), ("downgrade", "182.50", "-184.00", "92.00", "15.50")],
)
def test_upgrades_and_downgrades_add_proration_lines(kind, price, credit, charge, july):
    out = run(ANNUAL, [event(kind, "2026-07-01", line="annual", price=price)])
    (record,) = out["events"]
    assert (record["days_left"], record["days_total"]) == (184, 365)
    assert record["proration_lines"] == [
        {"line": "annual~e0-credit", "amount": credit}, {"line": "annual~e0-charge", "amount": charge}]
    assert month(out, "2026-07")["recognized"] == july
    assert month(out, "2026-07")["billed"] == str(D(credit) + D(charge))
    assert out["schedule"][-1]["cumulative_recognized"] == str(D("365.00") + D(credit) + D(charge))
    assert [a["method"] for a in out["allocation"]] == ["relative_ssp", "proration", "proration"]


def test_proration_lines_of_an_arrears_line_are_billed_at_its_end():
    line = sub("annual", "365.00", billing={"timing": "arrears"})
    out = run([line], [event("upgrade", "2026-07-01", line="annual", price="730.00")])
    assert [(r["period"], r["billed"]) for r in out["schedule"] if r["billed"] != "0.00"] == [("2027-01", "549.00")]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"type": "upgrade", "price": "300.00"}, "price", "an upgrade must raise the price above 365.00"),
        ({"type": "downgrade", "price": "400.00"}, "price", "a downgrade must lower the price below 365.00"),
        ({"type": "upgrade", "line": "nope", "price": "400.00"}, "line", "there is no line 'nope'"),
        ({"type": "upgrade", "price": "400.00", "date": "2027-01-01"}, "date",
         "2027-01-01 is not inside the service period of line 'annual' (2026-01-01 to 2027-01-01)"),
        ({"type": "upgrade", "line": "setup", "price": "400.00"}, "line",
         "line 'setup' is not recognized ratably: only ratable lines are upgraded or downgraded"),
    ],
)
def test_price_changes_that_cannot_apply(fields, field, message):
    lines = ANNUAL + [one_off("setup", "50.00", "50.00")]
    change = {"date": "2026-07-01", "line": "annual", **fields}
    assert problems(lines, [change]) == [(f"events[0] ({fields['type']})", field, message)]


PLATFORM = [sub("platform", "1200.00", granularity="monthly_even")]
ADD_ON = sub("analytics", "300.00", "2026-07-01", ssp="600.00", granularity="monthly_even")
TREATMENTS = [
    # (treatment, add-on allocated, reallocation, July, December, add-on group)
    ("separate_contract", "300.00", [], "150.00", "150.00", "events[0]"),
    ("prospective", "450.00", [{"line": "platform", "before": "600.00", "after": "450.00", "catch_up": "0.00"}],
     "150.00", "150.00", "contract"),
    ("cumulative_catch_up", "500.00",
     [{"line": "platform", "before": "1200.00", "after": "1000.00", "catch_up": "-100.00"}],
     "66.66", "166.67", "contract"),
]


def modification(treatment: str | None = None, *added: dict) -> dict:
    chosen = {"treatment": treatment} if treatment else {}
    return event("modification", "2026-07-01", add_lines=list(added) or [ADD_ON], **chosen)


@pytest.mark.parametrize(("treatment", "allocated", "reallocation", "july", "december", "group"), TREATMENTS)
def test_modification_treatments(treatment, allocated, reallocation, july, december, group):
    out = run(PLATFORM, [modification(treatment)])
    (record,) = out["events"]
    assert (record["treatment"], record["added_lines"]) == (treatment, ["analytics"])
    assert record["reallocation"] == reallocation
    added = out["allocation"][-1]
    assert (added["line"], added["allocated"], added["group"]) == ("analytics", allocated, group)
    assert (month(out, "2026-07")["recognized"], month(out, "2026-12")["recognized"]) == (july, december)
    assert month(out, "2026-06")["cumulative_recognized"] == "600.00"
    assert out["schedule"][-1]["cumulative_recognized"] == "1500.00"


def test_the_policy_chooses_the_treatment_unless_the_event_does():
    policy = {"modification_treatment": "cumulative_catch_up"}
    assert run(PLATFORM, [modification()], policy=policy)["events"][0]["treatment"] == "cumulative_catch_up"
    chosen = run(PLATFORM, [modification("separate_contract")], policy=policy)
    assert chosen["events"][0]["treatment"] == "separate_contract"


def test_a_separate_contract_nets_its_own_balance():
    late = {**ADD_ON, "billing": {"timing": "arrears"}}
    out = run(PLATFORM, [modification("separate_contract", late)])
    july = month(out, "2026-07")
    # The platform is billed ahead (deferred), the add-on behind (unbilled): two contracts, two balances.
    assert (july["deferred_revenue"], july["unbilled_receivable"]) == ("500.00", "50.00")
    assert {e["contract"] for e in out["journal"]} == {"contract", "events[0]"}


def test_a_prospective_modification_leaves_fully_recognized_obligations_alone():
    out = run(PLATFORM + [one_off("setup", "100.00", "100.00")], [modification("prospective")])
    assert [r["line"] for r in out["events"][0]["reallocation"]] == ["platform"]
    assert out["schedule"][-1]["cumulative_recognized"] == "1600.00"


def test_events_apply_in_date_order_whatever_their_order_in_the_input():
    events = [event("credit_note", "2026-08-01", invoice="2026-01-01", amount="10.00"),
              event("credit_note", "2026-04-01", invoice="2026-01-01", amount="10.00")]
    out = run(ANNUAL, events)
    assert [e["index"] for e in out["events"]] == [1, 0]
    assert out["schedule"][-1]["cumulative_recognized"] == "345.00"


def test_a_usage_credit_reduces_the_usage_only():
    usage = {"id": "api", "product": "api", "obligation": "usage",
             "service_period": {"start": "2026-01-01", "end": "2026-03-01"},
             "usage": [{"date": "2026-01-05", "amount": "40.00"}],
             "billing": {"timing": "arrears", "interval": "monthly"}}
    out = run(ANNUAL + [usage], [event("credit_note", "2026-02-10", invoice="2026-02-01", amount="40.00")])
    assert revenue(out) == [("api", "40.00", "40.00", "0.00")]


@pytest.mark.parametrize(("treatment", "contract"), [("prospective", "contract"), ("separate_contract", "events[0]")])
def test_added_usage_alone_is_allocated_its_own_amount(treatment, contract):
    usage = {"id": "api", "product": "api", "obligation": "usage",
             "service_period": {"start": "2026-07-01", "end": "2026-09-01"},
             "usage": [{"date": "2026-07-05", "amount": "12.00"}], "billing": {"timing": "arrears"}}
    out = run(PLATFORM, [modification(treatment, usage)])
    assert out["events"][0]["reallocation"] == []
    assert (out["allocation"][-1]["method"], out["allocation"][-1]["allocated"]) == ("variable_consideration", "12.00")
    assert {e["contract"] for e in out["journal"] if any(x.get("product") == "api" for x in e["lines"])} == {contract}
