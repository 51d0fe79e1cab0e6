"""Events: reductions (credit note, refund, void, uncollectible), upgrades and downgrades, modifications."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoiceflow.errors import ValidationError
from invoiceflow.revrec.contract_input import parse_contract
from invoiceflow.revrec.engine import recognize
from invoiceflow.revrec.report import as_document

D = Decimal


def sub(id: str, price: str, start: str = "2026-01-01", end: str = "2027-01-01", ssp: str | None = None, **extra) -> dict:
    line = {"id": id, "product": id, "obligation": "subscription", "price": price, "ssp": ssp or price,
            "service_period": {"start": start, "end": end}, "billing": {"timing": "advance"}}
    return {**line, **extra}


def one_off(id: str, price: str, ssp: str, day: str = "2026-01-10") -> dict:
    return {"id": id, "product": id, "obligation": "one_off", "price": price, "ssp": ssp, "delivered_on": day,
            "billing": {"timing": "advance"}}


def run(lines: list[dict], events: list[dict], **top) -> dict:
    return as_document(recognize(parse_contract({"currency": "USD", "lines": lines, "events": events, **top})))


def month(out: dict, period: str) -> dict:
    return next(row for row in out["schedule"] if row["period"] == period)


def problems(lines: list[dict], events: list[dict], **top) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as caught:
        run(lines, events, **top)
    return [(p.record, p.field, p.message) for p in caught.value.problems]


ANNUAL = [sub("annual", "365.00")]


@pytest.mark.parametrize(
    ("event", "reduction", "contra", "cleared", "april", "credited"),
    [
        ({"type": "credit_note", "amount": "36.50"}, "36.50", "9.00", "27.50", "18.00", "36.50"),
        ({"type": "refund", "amount": "36.50"}, "36.50", "9.00", "27.50", "18.00", "36.50"),
        ({"type": "uncollectible", "amount": "73.00"}, "73.00", "18.00", "55.00", "6.00", "73.00"),
        ({"type": "uncollectible"}, "365.00", "90.00", "275.00", "-90.00", "365.00"),
        ({"type": "void"}, "365.00", "90.00", "275.00", "-90.00", "365.00"),
        ({"type": "credit_note", "lines": [{"line": "annual", "amount": "36.50"}]}, "36.50", "9.00", "27.50", "18.00", "36.50"),
    ],
    ids=["credit_note", "refund", "uncollectible-part", "uncollectible-all", "void", "credit_note-lines"],
)
def test_reductions_reverse_the_recognized_share_and_clear_the_rest(event, reduction, contra, cleared, april, credited):
    out = run(ANNUAL, [{"date": "2026-04-10", "invoice": "2026-01-01", **event}])
    (record,) = out["events"]
    assert record["revenue"] == [{"line": "annual", "reduction": reduction, "contra_revenue": contra, "deferred_cleared": cleared}]
    assert (month(out, "2026-04")["recognized"], month(out, "2026-04")["credited"]) == (april, credited)
    assert month(out, "2026-03")["cumulative_recognized"] == "90.00"  # earlier periods keep their revenue
    assert out["schedule"][-1]["cumulative_recognized"] == str(D("365.00") - D(reduction))
    assert all(D(row["cumulative_recognized"]) >= 0 for row in out["schedule"])


def test_a_refund_pays_back_cash_and_a_credit_note_reduces_the_receivable():
    for kind, role in [("refund", "cash"), ("credit_note", "accounts_receivable"), ("void", "accounts_receivable")]:
        event = {"type": kind, "date": "2026-04-10", "invoice": "2026-01-01"} | ({} if kind == "void" else {"amount": "36.50"})
        (entry,) = [e for e in run(ANNUAL, [event])["journal"] if e["entry"] == kind]
        assert entry["lines"][0]["role"] == role and entry["lines"][0]["credit"] != "0.00"


def test_an_invoice_credit_without_lines_is_spread_over_its_lines():
    out = run([sub("a", "300.00"), sub("b", "100.00")], [{"type": "credit_note", "date": "2026-01-01", "invoice": "2026-01-01", "amount": "10.00"}])
    assert out["events"][0]["billing"] == [{"line": "a", "amount": "7.50"}, {"line": "b", "amount": "2.50"}]
    assert [r["reduction"] for r in out["events"][0]["revenue"]] == ["7.50", "2.50"]


def test_a_bundle_void_moves_the_excess_to_the_other_obligations():
    lines = [one_off("license", "100.00", "50.00"), one_off("support", "0", "25.00"), one_off("training", "0", "75.00", "2026-03-01")]
    out = run(lines, [{"type": "void", "date": "2026-02-01", "invoice": "2026-01-10"}])
    assert [(r["line"], r["reduction"], r["contra_revenue"], r["deferred_cleared"]) for r in out["events"][0]["revenue"]] == [
        ("license", "33.33", "33.33", "0.00"), ("support", "16.67", "16.67", "0.00"), ("training", "50.00", "0.00", "50.00")]
    assert [(r["period"], r["cumulative_recognized"], r["deferred_revenue"]) for r in out["schedule"]] == [
        ("2026-01", "50.00", "50.00"), ("2026-02", "0.00", "0.00")]


def test_two_credits_cannot_take_more_than_the_invoice():
    events = [{"type": "credit_note", "date": "2026-02-01", "invoice": "2026-01-01", "amount": "300.00"},
              {"type": "credit_note", "date": "2026-03-01", "invoice": "2026-01-01", "amount": "100.00"}]
    assert problems(ANNUAL, events) == [
        ("events[1] (credit_note)", "amount", "100.00 is more than the 65.00 still open on invoice 2026-01-01")]


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        ({"type": "void", "invoice": "2026-01-02"}, "invoice", "there is no invoice dated 2026-01-02"),
        ({"type": "void", "invoice": "2026-01-01", "date": "2025-12-31"}, "invoice",
         "invoice 2026-01-01 is dated after the void (2025-12-31)"),
        ({"type": "credit_note", "invoice": "2026-01-01", "amount": "400.00"}, "amount",
         "400.00 is more than the 365.00 still open on invoice 2026-01-01"),
        ({"type": "credit_note", "invoice": "2026-01-01", "lines": [{"line": "other", "amount": "1.00"}]}, "lines[0].line",
         "line 'other' is not on invoice 2026-01-01"),
        ({"type": "refund", "invoice": "2026-01-01", "lines": [{"line": "annual", "amount": "200.00"}, {"line": "annual", "amount": "200.00"}]},
         "lines[1].amount", "400.00 is more than the 365.00 still open for line 'annual' on invoice 2026-01-01"),
    ],
)
def test_reductions_that_cannot_apply(event, field, message):
    kind = event["type"]
    assert problems(ANNUAL, [{"date": "2026-04-10", **event}]) == [(f"events[0] ({kind})", field, message)]


def test_a_second_void_finds_nothing_open():
    events = [{"type": "void", "date": "2026-02-01", "invoice": "2026-01-01"}, {"type": "void", "date": "2026-02-02", "invoice": "2026-01-01"}]
    assert problems(ANNUAL, events) == [("events[1] (void)", "invoice", "nothing is left open on invoice 2026-01-01")]


@pytest.mark.parametrize(
    ("kind", "price", "credit", "charge", "july"),
    [("upgrade", "730.00", "-184.00", "368.00", "62.00"), ("downgrade", "182.50", "-184.00", "92.00", "15.50")],
)
def test_upgrades_and_downgrades_add_proration_lines(kind, price, credit, charge, july):
    out = run(ANNUAL, [{"type": kind, "date": "2026-07-01", "line": "annual", "price": price}])
    (record,) = out["events"]
    assert (record["days_left"], record["days_total"]) == (184, 365)
    assert record["proration_lines"] == [{"line": "annual~e0-credit", "amount": credit}, {"line": "annual~e0-charge", "amount": charge}]
    assert month(out, "2026-07")["recognized"] == july
    assert month(out, "2026-07")["billed"] == str(D(credit) + D(charge))
    assert out["schedule"][-1]["cumulative_recognized"] == str(D("365.00") + D(credit) + D(charge))
    assert [a["method"] for a in out["allocation"]] == ["relative_ssp", "proration", "proration"]


def test_proration_lines_of_an_arrears_line_are_billed_at_its_end():
    line = sub("annual", "365.00", billing={"timing": "arrears"})
    out = run([line], [{"type": "upgrade", "date": "2026-07-01", "line": "annual", "price": "730.00"}])
    assert [(r["period"], r["billed"]) for r in out["schedule"] if r["billed"] != "0.00"] == [("2027-01", "549.00")]


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        ({"type": "upgrade", "line": "annual", "price": "300.00"}, "price", "an upgrade must raise the price above 365.00"),
        ({"type": "downgrade", "line": "annual", "price": "400.00"}, "price", "a downgrade must lower the price below 365.00"),
        ({"type": "upgrade", "line": "nope", "price": "400.00"}, "line", "there is no line 'nope'"),
        ({"type": "upgrade", "line": "annual", "price": "400.00", "date": "2027-01-01"}, "date",
         "2027-01-01 is not inside the service period of line 'annual' (2026-01-01 to 2027-01-01)"),
        ({"type": "upgrade", "line": "setup", "price": "400.00"}, "line",
         "line 'setup' is not recognized ratably: only ratable lines are upgraded or downgraded"),
    ],
)
def test_price_changes_that_cannot_apply(event, field, message):
    lines = ANNUAL + [one_off("setup", "50.00", "50.00")]
    assert problems(lines, [{"date": "2026-07-01", **event}]) == [(f"events[0] ({event['type']})", field, message)]


PLATFORM = [sub("platform", "1200.00", granularity="monthly_even")]
ADD_ON = sub("analytics", "300.00", "2026-07-01", ssp="600.00", granularity="monthly_even")


@pytest.mark.parametrize(
    ("treatment", "allocated", "reallocation", "july", "december", "group"),
    [
        ("separate_contract", "300.00", [], "150.00", "150.00", "events[0]"),
        ("prospective", "450.00", [{"line": "platform", "before": "600.00", "after": "450.00", "catch_up": "0.00"}],
         "150.00", "150.00", "contract"),
        ("cumulative_catch_up", "500.00", [{"line": "platform", "before": "1200.00", "after": "1000.00", "catch_up": "-100.00"}],
         "66.66", "166.69", "contract"),
    ],
)
def test_modification_treatments(treatment, allocated, reallocation, july, december, group):
    out = run(PLATFORM, [{"type": "modification", "date": "2026-07-01", "treatment": treatment, "add_lines": [ADD_ON]}])
    (record,) = out["events"]
    assert (record["treatment"], record["added_lines"], record["reallocation"]) == (treatment, ["analytics"], reallocation)
    added = out["allocation"][-1]
    assert (added["line"], added["allocated"], added["group"]) == ("analytics", allocated, group)
    assert (month(out, "2026-07")["recognized"], month(out, "2026-12")["recognized"]) == (july, december)
    assert month(out, "2026-06")["cumulative_recognized"] == "600.00"
    assert out["schedule"][-1]["cumulative_recognized"] == "1500.00"


def test_the_policy_chooses_the_treatment_unless_the_event_does():
    event = {"type": "modification", "date": "2026-07-01", "add_lines": [ADD_ON]}
    out = run(PLATFORM, [event], policy={"modification_treatment": "cumulative_catch_up"})
    assert out["events"][0]["treatment"] == "cumulative_catch_up"
    out = run(PLATFORM, [{**event, "treatment": "separate_contract"}], policy={"modification_treatment": "cumulative_catch_up"})
    assert out["events"][0]["treatment"] == "separate_contract"


def test_a_separate_contract_nets_its_own_balance():
    early = {**ADD_ON, "billing": {"timing": "arrears"}}
    out = run(PLATFORM, [{"type": "modification", "date": "2026-07-01", "treatment": "separate_contract", "add_lines": [early]}])
    july = month(out, "2026-07")
    # The platform is billed ahead (deferred), the add-on behind (unbilled): two contracts, two balances.
    assert (july["deferred_revenue"], july["unbilled_receivable"]) == ("500.00", "50.00")
    assert {e["contract"] for e in out["journal"]} == {"contract", "events[0]"}


def test_a_prospective_modification_leaves_fully_recognized_obligations_alone():
    lines = PLATFORM + [one_off("setup", "100.00", "100.00")]
    out = run(lines, [{"type": "modification", "date": "2026-07-01", "treatment": "prospective", "add_lines": [ADD_ON]}])
    assert [r["line"] for r in out["events"][0]["reallocation"]] == ["platform"]
    assert out["schedule"][-1]["cumulative_recognized"] == "1600.00"


def test_events_apply_in_date_order_whatever_their_order_in_the_input():
    events = [{"type": "credit_note", "date": "2026-08-01", "invoice": "2026-01-01", "amount": "10.00"},
              {"type": "credit_note", "date": "2026-04-01", "invoice": "2026-01-01", "amount": "10.00"}]
    out = run(ANNUAL, events)
    assert [e["index"] for e in out["events"]] == [1, 0]
    assert out["schedule"][-1]["cumulative_recognized"] == "345.00"


def test_a_usage_credit_reduces_the_usage_only():
    usage = {"id": "api", "product": "api", "obligation": "usage", "service_period": {"start": "2026-01-01", "end": "2026-03-01"},
             "usage": [{"date": "2026-01-05", "amount": "40.00"}], "billing": {"timing": "arrears", "interval": "monthly"}}
    out = run(ANNUAL + [usage], [{"type": "credit_note", "date": "2026-02-10", "invoice": "2026-02-01", "amount": "40.00"}])
    assert out["events"][0]["revenue"] == [{"line": "api", "reduction": "40.00", "contra_revenue": "40.00", "deferred_cleared": "0.00"}]
