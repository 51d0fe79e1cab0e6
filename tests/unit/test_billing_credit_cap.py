"""The bill run's credits of unused days are capped by what remains of the invoice line that billed the days
(billing/crediting.py, billing/assemble.py), with no database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from invoiceflow.billing.assemble import assemble_point
from invoiceflow.billing.crediting import (
    BilledLine, Creditable, EarlierCredit, cap_note, cap_unused_days, creditable_lines)
from invoiceflow.billing.fees import BilledDays
from invoiceflow.billing.schedule import due_work
from invoiceflow.billing.terms import ChargeTerms, SubscriptionTerms, VersionTerms
from invoiceflow.rating.prices import parse_price

D = Decimal
SEPT, MID, OCT = date(2026, 9, 1), date(2026, 9, 16), date(2026, 10, 1)
KEY = ("base", 1)
HAND = "CN-2026-000001"


def fee(line_id: int = 100, amount: str = "300.00", start: date = SEPT, end: date = OCT) -> BilledLine:
    return BilledLine(line_id, 1, "fee_advance", "Platform", D(amount), D(1), charge_code="base",
                      contract_version_id=1, service_start=start, service_end=end)


def line(net: str, credited: str = "0", by: tuple[str, ...] = ()) -> Creditable:
    return Creditable(fee(), D(net), D(credited), credited_by=by)


@pytest.mark.parametrize("amount, net, credited, expected", [
    ("150.00", "300.00", "0", "150.00"),  # untouched: the unused days in full
    ("150.00", "300.00", "40.00", "150.00"),  # 260.00 remain: enough
    ("150.00", "300.00", "150.00", "150.00"),  # exactly what remains
    ("150.00", "300.00", "200.00", "100.00"),  # only 100.00 remain
    ("150.00", "300.00", "299.99", "0.01"),
    ("150.00", "300.00", "300.00", "0"),  # credited in full: nothing left
    ("150.00", "300.00", "310.00", "0"),  # over-credited before: still nothing, never negative
    ("300.00", "285.00", "0", "285.00"),  # a whole discounted period: its net, not its gross
    ("1500", "3000", "2000", "1000"),  # JPY
    ("0.00", "300.00", "0", "0.00"),
])
def test_a_credit_of_unused_days_never_exceeds_what_remains(amount, net, credited, expected):
    assert cap_unused_days(D(amount), line(net, credited)) == D(expected)


@pytest.mark.parametrize("source, currency, expected", [
    (line("300.00", "200.00", (HAND,)), "EUR", f"capped: 200.00 EUR of its 300.00 EUR net already credited by {HAND}"),
    (line("300.00", "250.00", (HAND, "credit note 57")), "EUR",
     f"capped: 250.00 EUR of its 300.00 EUR net already credited by {HAND}, credit note 57"),
    (line("285.00"), "EUR", "capped at the line's 285.00 EUR net of discounts"),
    (line("300", "300"), "JPY", "capped: 300 JPY of its 300 JPY net already credited by earlier credit notes"),
])
def test_the_cap_says_why(source, currency, expected):
    assert cap_note(source, currency) == expected


def test_a_credit_counts_for_the_credits_after_it():
    after = line("300.00", "40.00", (HAND,)).after(D("150.00"), "the bill run's credit note of 2026-09-16")
    assert (after.credited, after.remaining) == (D("190.00"), D("110.00"))
    assert after.credited_by == (HAND, "the bill run's credit note of 2026-09-16")
    assert after.after(D("0"), "nothing") == after


def test_earlier_credit_notes_are_named_once_each_in_order():
    lines = [fee(1), fee(2, start=OCT, end=date(2026, 11, 1))]
    earlier = [EarlierCredit(D("40.00"), credits_line_id=1, document=HAND),
               EarlierCredit(D("10.00"), credits_line_id=1, document=HAND),
               EarlierCredit(D("50.00"), charge_code="base", contract_version_id=1, service_start=date(2026, 9, 26),
                             service_end=OCT, document="credit note 57"),
               EarlierCredit(D("50.00"), credits_line_id=2, document="CN-2026-000009")]
    found = {c.line.id: (c.credited, c.credited_by) for c in creditable_lines(lines, earlier, "EUR")}
    assert found == {1: (D("100.00"), (HAND, "credit note 57")), 2: (D("50.00"), ("CN-2026-000009",))}


def _sub(*, end: date = MID, downgrade: date | None = None) -> SubscriptionTerms:
    versions = [_version(1, SEPT, "300.00")] + ([_version(2, downgrade, "100.00")] if downgrade else [])
    return SubscriptionTerms(id=1, code="s", customer_id=1, contract_id=1, legal_entity_id=1, currency="EUR",
                             timezone="UTC", interval="monthly", anchor="calendar", start=SEPT, end=end,
                             trial_end=None, versions=tuple(versions))


def _version(version_id: int, start: date, fee_amount: str) -> VersionTerms:
    doc = {"model": "flat", "amount": fee_amount}
    charge = ChargeTerms(code="base", product_code="platform", product_name="Platform", price_doc=doc,
                         price=parse_price(doc, currency="EUR"), timing="advance")
    return VersionTerms(id=version_id, number=version_id, effective_from=start, plan_version_id=version_id,
                        plan_code="pro", plan_version=1, charges=(charge,))


def _credit_note(sub: SubscriptionTerms, billed: BilledDays, creditable: dict[int, Creditable] | None):
    """The credit note of the first due point after September's invoice (point 2026-09-01 billed)."""
    [work, *_] = due_work(sub, MID, {SEPT})
    return assemble_point(sub, work, billed, SEPT, {}, {}, D(0), creditable).credit_note


def _september(*spans: tuple[date, date, int]) -> BilledDays:
    billed = BilledDays()
    for start, end, line_id in spans:
        billed.add(KEY, start, end, invoice_id=10, line_id=line_id)
    return billed


@pytest.mark.parametrize("net, credited, amount, description", [
    ("300.00", "0", "150.00", "Unused time: Platform (15/30 days)"),
    ("300.00", "40.00", "150.00", "Unused time: Platform (15/30 days)"),
    ("300.00", "200.00", "100.00", f"Unused time: Platform (15/30 days); capped: 200.00 EUR of its 300.00 EUR net "
                                   f"already credited by {HAND}"),
    ("140.00", "0", "140.00", "Unused time: Platform (15/30 days); capped at the line's 140.00 EUR net of discounts"),
])
def test_a_cancellation_credits_at_most_what_remains(net, credited, amount, description):
    creditable = {100: line(net, credited, (HAND,) if D(credited) else ())}
    [credit] = _credit_note(_sub(), _september((SEPT, OCT, 100)), creditable).lines
    assert (credit.amount, credit.precise_amount, credit.description) == (D(amount), D(amount), description)
    assert ("capped" in credit.trace) == (D(amount) != D("150.00"))
    assert creditable[100].credited == D(credited) + D(amount)  # later points of the run see this credit


def test_an_untouched_line_is_credited_exactly_as_without_the_cap():
    capped = _credit_note(_sub(), _september((SEPT, OCT, 100)), {100: line("300.00")})
    uncapped = _credit_note(_sub(), _september((SEPT, OCT, 100)), None)
    assert capped == uncapped and capped.corrects_invoice_id == 10


def test_the_trace_of_a_capped_credit_keeps_the_figures():
    [credit] = _credit_note(_sub(), _september((SEPT, OCT, 100)), {100: line("300.00", "200.00", (HAND,))}).lines
    assert credit.trace["capped"] == {"unused_days_amount": "150.00", "invoice_line_id": 100, "line_net": "300.00",
                                      "credited_before": "200.00", "credited_by": [HAND]}
    assert credit.trace["days"] == 15  # the rest of the trace is the unused days' as before


def test_nothing_left_to_credit_makes_no_credit_note_and_settles_the_days():
    billed = _september((SEPT, OCT, 100))
    assert _credit_note(_sub(), billed, {100: line("300.00", "300.00", (HAND,))}) is None
    assert min(billed.days[KEY]) == SEPT.toordinal() and max(billed.days[KEY]) == MID.toordinal() - 1


def test_a_downgrade_still_invoices_the_new_plan_when_the_old_one_is_credited_in_full():
    sub = _sub(end=None, downgrade=MID)
    [work, *_] = due_work(sub, MID, {SEPT})
    result = assemble_point(sub, work, _september((SEPT, OCT, 100)), SEPT, {}, {}, D(0),
                            {100: line("300.00", "300.00", (HAND,))})
    assert result.credit_note is None
    assert [(l.line_type, l.amount) for l in result.invoice.lines] == [("fee_advance", D("50.00"))]


def test_a_credit_over_days_two_lines_billed_is_split_and_each_part_capped_by_its_own_line():
    billed = _september((SEPT, date(2026, 9, 11), 100), (date(2026, 9, 11), OCT, 101))
    creditable = {100: line("100.00"), 101: Creditable(fee(101, "200.00", date(2026, 9, 11), OCT), D("200.00"),
                                                       D("200.00"), credited_by=(HAND,))}
    note = _credit_note(_sub(end=date(2026, 9, 6)), billed, creditable)
    assert [(l.service_start, l.service_end, l.amount) for l in note.lines] == [
        (date(2026, 9, 6), date(2026, 9, 11), D("50.00"))]  # the 20 days of line 101 were credited by hand
