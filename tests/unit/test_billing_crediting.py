"""What remains creditable on an invoice's lines and the credit lines a request makes (billing/crediting.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoiceflow.billing.crediting import (
    BilledLine, Creditable, EarlierCredit, LineRequest, creditable_lines, discount_shares, plain_number, plan_credit,
    split)
from invoiceflow.errors import ValidationError
from invoiceflow.money import round_amount

D = Decimal
SEPT, OCT, NOV = date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)


def fee(line_id: int, amount: str, quantity: str | None = "1", *, version: int = 1, start=SEPT, end=OCT,
        charge: str = "base", line_type: str = "fee_advance") -> BilledLine:
    return BilledLine(line_id, line_id, line_type, f"Line {line_id}", D(amount),
                      None if quantity is None else D(quantity), charge_code=charge, contract_version_id=version,
                      service_start=start, service_end=end)


def discount(line_id: int, amount: str, *, version: int | None = 1, until: date | None = None) -> BilledLine:
    return BilledLine(line_id, line_id, "discount", f"Discount {line_id}", D(amount), contract_version_id=version,
                      applies_before=until)


PREPAID = BilledLine(9, 9, "prepaid_credit", "Prepaid credit applied", D("-50.00"))


@pytest.mark.parametrize("lines, expected", [
    ([fee(1, "300.00")], {}),
    ([fee(1, "300.00"), discount(2, "-15.00")], {1: D("-15.00")}),
    # spread by amount; the largest line takes the residue so the shares add up to the discount
    ([fee(1, "100.00"), fee(2, "200.00", charge="seats"), discount(3, "-10.00")],
     {1: D("-3.33"), 2: D("-6.67")}),
    ([fee(1, "10.00"), fee(2, "10.00", charge="x"), fee(3, "10.00", charge="y"), discount(4, "-0.10")],
     {1: D("-0.04"), 2: D("-0.03"), 3: D("-0.03")}),
    # a discount applies to its own contract version only, and not from its end on
    ([fee(1, "100.00", version=1), fee(2, "100.00", version=2), discount(3, "-5.00", version=2)], {2: D("-5.00")}),
    ([fee(1, "100.00", start=SEPT), fee(2, "100.00", start=OCT, end=NOV), discount(3, "-5.00", until=OCT)],
     {1: D("-5.00")}),
    # prepaid credit is a means of payment, not a discount
    ([fee(1, "300.00"), PREPAID], {}),
    # JPY has no minor unit
    ([fee(1, "1000"), fee(2, "1000", charge="x"), fee(3, "1000", charge="y"), discount(4, "-100")],
     {1: D("-34"), 2: D("-33"), 3: D("-33")}),
])
def test_discount_shares(lines, expected):
    currency = "JPY" if lines[0].amount == D("1000") else "EUR"
    shares = discount_shares(lines, currency)
    assert shares == expected
    assert sum(shares.values(), D(0)) == sum((line.amount for line in lines if line.line_type == "discount"), D(0))


@pytest.mark.parametrize("earlier, expected", [
    ([], {1: (D("285.00"), D("0"), D("0"))}),
    # raised by hand against the line, by amount and by quantity
    ([EarlierCredit(D("100.00"), credits_line_id=1)], {1: (D("285.00"), D("100.00"), D("0"))}),
    ([EarlierCredit(D("95.00"), credits_line_id=1, quantity=D("1"))], {1: (D("285.00"), D("95.00"), D("1"))}),
    # a bill-run credit of the last 15 unused days of September (gross: the bill run credits no discount)
    ([EarlierCredit(D("150.00"), charge_code="base", contract_version_id=1, service_start=date(2026, 9, 16),
                    service_end=OCT)], {1: (D("285.00"), D("150.00"), D("0"))}),
    # a bill-run credit of another charge, version or period is not this line's
    ([EarlierCredit(D("150.00"), charge_code="seats", contract_version_id=1, service_start=date(2026, 9, 16),
                    service_end=OCT),
      EarlierCredit(D("150.00"), charge_code="base", contract_version_id=2, service_start=date(2026, 9, 16),
                    service_end=OCT),
      EarlierCredit(D("150.00"), charge_code="base", contract_version_id=1, service_start=OCT, service_end=NOV)],
     {1: (D("285.00"), D("0"), D("0"))}),
])
def test_what_earlier_credits_gave_back(earlier, expected):
    lines = [fee(1, "300.00", quantity="3"), discount(2, "-15.00")]
    found = {c.line.id: (c.net, c.credited, c.credited_quantity) for c in creditable_lines(lines, earlier, "EUR")}
    assert found == expected


def test_a_bill_run_credit_spanning_two_lines_is_split_by_days():
    lines = [fee(1, "310.00", start=date(2026, 8, 1), end=date(2026, 9, 1)), fee(2, "300.00")]
    credit = EarlierCredit(D("100.00"), charge_code="base", contract_version_id=1, service_start=date(2026, 8, 22),
                           service_end=date(2026, 9, 11))  # 10 days of each line
    found = {c.line.id: c.credited for c in creditable_lines(lines, [credit], "EUR")}
    assert found == {1: D("50.00"), 2: D("50.00")}


def test_only_charge_lines_with_an_amount_are_creditable():
    lines = [fee(1, "300.00"), fee(2, "0.00", charge="calls", line_type="usage"), discount(3, "-15.00"), PREPAID]
    assert [c.line.id for c in creditable_lines(lines, [], "EUR")] == [1]


def creditable(net: str, quantity: str | None = "3", credited: str = "0", counted: str = "0") -> Creditable:
    return Creditable(fee(1, net, quantity), D(net), D(credited), D(counted))


@pytest.mark.parametrize("c, request_, expected", [
    # (amount, precise amount, quantity)
    (creditable("100.00"), LineRequest(1), (D("100.00"), D("100.00"), D("3"))),
    # a quantity at the net unit price, rounded once (the precise amount keeps 34 digits)
    (creditable("100.00"), LineRequest(1, quantity=D("1")), (D("33.33"), D("33.33333333333333333333333333333333"),
                                                              D("1"))),
    (creditable("100.00"), LineRequest(1, quantity=D("2")), (D("66.67"), D("66.66666666666666666666666666666667"),
                                                              D("2"))),
    (creditable("100.00"), LineRequest(1, amount=D("12.34")), (D("12.34"), D("12.34"), None)),
    # the last units credit exactly what remains: 33.33 + 33.33 + 33.34 = 100.00
    (creditable("100.00", credited="66.66", counted="2"), LineRequest(1, quantity=D("1")),
     (D("33.34"), D("33.34"), D("1"))),
    (creditable("100.00", credited="33.33", counted="1"), LineRequest(1), (D("66.67"), D("66.67"), D("2"))),
    # after an amount was credited the rest is money, not units
    (creditable("100.00", credited="10.00"), LineRequest(1), (D("90.00"), D("90.00"), None)),
    (creditable("100.00", quantity=None), LineRequest(1), (D("100.00"), D("100.00"), None)),
    # a fractional quantity, rounded once, half away from zero
    (creditable("10.00", quantity="4"), LineRequest(1, quantity=D("0.5")), (D("1.25"), D("1.25"), D("0.5"))),
    (creditable("1.00", quantity="8"), LineRequest(1, quantity=D("1")), (D("0.13"), D("0.125"), D("1"))),
])
def test_credit_lines(c, request_, expected):
    [line] = plan_credit([c], [request_], "EUR", record="invoice 7")
    assert (line.amount, line.precise_amount, line.quantity) == expected


def test_the_whole_invoice_credits_what_remains_of_every_line():
    lines = [creditable("100.00"), Creditable(fee(2, "50.00", charge="x"), D("50.00"), D("50.00")),
             Creditable(fee(3, "20.00", charge="y"), D("20.00"), D("5.00"))]
    planned = plan_credit(lines, None, "EUR", record="invoice 7")
    assert [(p.source.line.id, p.amount) for p in planned] == [(1, D("100.00")), (3, D("15.00"))]


@pytest.mark.parametrize("c, request_, message", [
    (creditable("100.00"), LineRequest(1, amount=D("100.01")),
     "invoice 7 line 1.amount: cannot credit 100.01 EUR of Line 1 (position 1): only 100.00 EUR of its 100.00 EUR "
     "net remains uncredited"),
    (creditable("100.00", credited="40.00"), LineRequest(1, amount=D("60.01")),
     "only 60.00 EUR of its 100.00 EUR net remains uncredited"),
    (creditable("100.00", counted="2", credited="66.66"), LineRequest(1, quantity=D("2")),
     "invoice 7 line 1.quantity: cannot credit 2 of Line 1 (position 1): 1 of its 3 remain uncredited (33.34 EUR)"),
    (creditable("100.00", credited="90.00"), LineRequest(1, quantity=D("1")),
     "cannot credit 1 of Line 1 (position 1) (33.33 EUR): only 10.00 EUR of its 100.00 EUR net remains"),
    (creditable("100.00", credited="100.00"), LineRequest(1),
     "invoice 7 line 1.line_id: Line 1 (position 1) is credited in full already (100.00 EUR net)"),
    (creditable("100.00"), LineRequest(1, quantity=D("-1")), "invoice 7 line 1.quantity: must be greater than zero"),
    (creditable("100.00"), LineRequest(1, amount=D("0")), "invoice 7 line 1.amount: must be greater than zero"),
    (creditable("100.00"), LineRequest(1, quantity=D("1"), amount=D("1")), "not both"),
    (creditable("100.00"), LineRequest(1, amount=D("1.005")), "1.005 has more decimals than EUR allows"),
    (creditable("100.00", quantity=None), LineRequest(1, quantity=D("1")), "has no quantity; credit an amount"),
    (creditable("100.00"), LineRequest(1, quantity=D("0.0001")), "is worth less than the smallest amount of EUR"),
    (creditable("100.00"), LineRequest(1, amount=D("1" * 60)), "cannot credit 1111"),
])
def test_refusals_name_the_line_and_what_remains(c, request_, message):
    with pytest.raises(ValidationError) as refused:
        plan_credit([c], [request_], "EUR", record="invoice 7")
    assert message in str(refused.value)


def test_lines_that_cannot_be_credited_say_why_and_every_problem_is_reported():
    lines = [fee(1, "300.00"), discount(2, "-15.00"), PREPAID]
    found = creditable_lines(lines, [], "EUR")
    requests = [LineRequest(99), LineRequest(2), LineRequest(9), LineRequest(1, amount=D("1")), LineRequest(1)]
    with pytest.raises(ValidationError) as refused:
        plan_credit(found, requests, "EUR", record="invoice 7", lines=lines)
    assert [(p.record, p.field) for p in refused.value.problems] == [
        ("invoice 7 line 99", "line_id"), ("invoice 7 line 2", "line_id"), ("invoice 7 line 9", "line_id"),
        ("invoice 7 line 1", "line_id")]
    messages = [p.message for p in refused.value.problems]
    assert "is not a line of this invoice (its creditable lines: 1)" in messages[0]
    assert "is a discount" in messages[1] and "means of payment" in messages[2] and "more than once" in messages[3]


def test_nothing_left_and_no_lines_are_refused():
    with pytest.raises(ValidationError, match="invoice 7: has nothing left to credit"):
        plan_credit([creditable("100.00", credited="100.00")], None, "EUR", record="invoice 7")
    with pytest.raises(ValidationError, match="invoice 7.lines: name at least one line"):
        plan_credit([creditable("100.00")], [], "EUR", record="invoice 7")


@pytest.mark.parametrize("total, weights, covered, expected", [
    (D("10.00"), [(1, D(1)), (2, D(2))], None, {1: D("3.33"), 2: D("6.67")}),
    (D("-0.01"), [(1, D(1)), (2, D(1))], None, {1: D("0.00"), 2: D("-0.01")}),  # both round to -0.01
    (D("30.00"), [(1, D(10))], D(30), {1: D("10.00")}),  # a third of the days are this invoice's
    (D("10.00"), [], None, {}),
    (D("10.00"), [(1, D(0))], None, {}),
])
def test_split(total, weights, covered, expected):
    assert split(total, weights, "EUR", covered) == expected


@pytest.mark.parametrize("value, text", [(D("2.000000"), "2"), (D("1E+2"), "100"), (D("0.50"), "0.5"),
                                         (D("1" * 40 + ".10"), "1" * 40 + ".1")])
def test_plain_number(value, text):
    assert plain_number(value) == text


@given(st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=12),
       st.integers(min_value=1, max_value=99_999), st.integers(min_value=1, max_value=9))
def test_credits_by_quantity_never_exceed_and_finally_equal_the_net(steps, cents, units):
    """Credit a line a few units at a time until nothing is left: every step stays within what remains, and
    the steps add up to the line's net exactly."""
    net = D(cents).scaleb(-2)
    line = fee(1, str(net), str(units))
    credited, counted, total = D(0), D(0), D(0)
    for step in steps:
        c = Creditable(line, net, credited, counted)
        if c.remaining == 0:
            break
        quantity = min(D(step), c.remaining_quantity)
        if quantity <= 0 or round_amount(net * quantity / units, "EUR") == 0:  # too small: credit the rest
            quantity = None
        [planned] = plan_credit([c], [LineRequest(1, quantity=quantity)], "EUR", record="invoice 1")
        assert 0 < planned.amount <= c.remaining
        credited, counted, total = credited + planned.amount, counted + (planned.quantity or 0), total + planned.amount
    rest = Creditable(line, net, credited, counted)
    if rest.remaining:
        [last] = plan_credit([rest], None, "EUR", record="invoice 1")
        total += last.amount
    assert total == net
