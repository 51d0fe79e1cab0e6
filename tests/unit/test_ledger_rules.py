"""Posting rules and the journal-entry model, with no database: table-driven cases and a balance property."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoiceflow.ledger.accounts import Account, Chart, MappingGap, MissingMapping
from invoiceflow.ledger.entries import JournalEntry, JournalLine, UnbalancedEntry
from invoiceflow.ledger.posting_rules import (
    Document,
    DocumentLine,
    DocumentTax,
    issued_entry,
    mapping_gaps,
    payment_entry,
    void_entry,
)
from invoiceflow.money import quantum

D = Decimal
ISSUED = date(2026, 4, 2)
ACCOUNTS = {code: Account(code, name, kind) for code, name, kind in [
    ("1100", "Receivables", "asset"), ("1000", "Bank", "asset"), ("2200", "VAT payable", "liability"),
    ("2400", "Deferred revenue", "liability"), ("4000", "Revenue", "revenue"), ("4100", "API revenue", "revenue"),
]}
MAPPINGS = {("receivable", ""): "1100", ("cash", ""): "1000", ("tax", ""): "2200", ("deferred_revenue", ""): "2400",
            ("revenue", ""): "4000", ("revenue", "api"): "4100"}
CHART = Chart("acme-us", ACCOUNTS, MAPPINGS)


def doc(*lines, taxes=(), currency="USD", kind="invoice", issued_on=ISSUED) -> Document:
    return Document(id=7, document_type=kind, legal_entity="acme-us", currency=currency, billing_date=date(2026, 4, 1),
                    issued_on=issued_on, number="INV-2026-000007", lines=tuple(lines), taxes=tuple(taxes))


def fee(amount, product="platform", start=date(2026, 4, 1), line_type="fee_advance"):
    return DocumentLine(D(amount), line_type, product, start)


def shape(entry: JournalEntry) -> list[tuple]:
    """(account, product, debit, credit) per line, as posted."""
    return [(l.account, l.product, str(l.debit), str(l.credit)) for l in entry.lines]


CASES = {
    "simple invoice": (doc(fee("31.00")), [("1100", None, "31.00", "0.00"), ("4000", "platform", "0.00", "31.00")]),
    "several products": (
        doc(fee("31.00"), fee("12.35", "api", line_type="usage"), fee("5.00")),
        [("1100", None, "48.35", "0.00"), ("4000", "platform", "0.00", "36.00"), ("4100", "api", "0.00", "12.35")]),
    "tax rows": (
        doc(fee("100.00"), fee("10.00", "api"), taxes=[
            DocumentTax("S", D("19"), "DE", D("19.00")), DocumentTax("AA", D("7"), "DE", D("0.70"))]),
        [("1100", None, "129.70", "0.00"), ("4000", "platform", "0.00", "100.00"), ("4100", "api", "0.00", "10.00"),
         ("2200", None, "0.00", "19.00"), ("2200", None, "0.00", "0.70")]),
    "future service period is deferred": (
        doc(fee("31.00", start=date(2026, 5, 1)), fee("9.00", "api", start=date(2026, 3, 1))),
        [("1100", None, "40.00", "0.00"), ("2400", "platform", "0.00", "31.00"), ("4100", "api", "0.00", "9.00")]),
    "service starting on the issue day is revenue": (
        doc(fee("31.00", start=ISSUED)), [("1100", None, "31.00", "0.00"), ("4000", "platform", "0.00", "31.00")]),
    "discount without product reduces default revenue": (
        doc(fee("17.00"), DocumentLine(D("-1.70"), "discount")),
        [("1100", None, "15.30", "0.00"), ("4000", "platform", "0.00", "17.00"), ("4000", None, "1.70", "0.00")]),
    "negative line of a product nets into its revenue": (
        doc(fee("50.00", "api"), fee("-20.00", "api", line_type="fee_advance")),
        [("1100", None, "30.00", "0.00"), ("4100", "api", "0.00", "30.00")]),
    "prepaid credit reduces the receivable": (
        doc(fee("30.00", line_type="fee_arrears"), DocumentLine(D("-10.00"), "prepaid_credit")),
        [("1100", None, "20.00", "0.00"), ("4000", "platform", "0.00", "30.00"), ("2400", None, "10.00", "0.00")]),
    "prepaid credit covering everything leaves no receivable": (
        doc(fee("30.00"), DocumentLine(D("-30.00"), "prepaid_credit")),
        [("4000", "platform", "0.00", "30.00"), ("2400", None, "30.00", "0.00")]),
    "credit note mirrors an invoice": (
        doc(fee("10.00"), taxes=[DocumentTax("S", D("20"), "GB", D("2.00"))], kind="credit_note"),
        [("1100", None, "0.00", "12.00"), ("4000", "platform", "10.00", "0.00"), ("2200", None, "2.00", "0.00")]),
    "JPY has no minor unit": (
        doc(fee("1000"), fee("330", "api"), taxes=[DocumentTax("S", D("10"), "JP", D("133"))], currency="JPY"),
        [("1100", None, "1463", "0"), ("4000", "platform", "0", "1000"), ("4100", "api", "0", "330"),
         ("2200", None, "0", "133")]),
    "KWD has three decimals": (
        doc(fee("12.345"), fee("0.005", "api"), currency="KWD"),
        [("1100", None, "12.350", "0.000"), ("4000", "platform", "0.000", "12.345"),
         ("4100", "api", "0.000", "0.005")]),
}


@pytest.mark.parametrize("document, expected", CASES.values(), ids=CASES.keys())
def test_issued_entry(document, expected):
    entry = issued_entry(document, CHART)
    assert shape(entry) == expected
    assert sum(l.debit for l in entry.lines) == sum(l.credit for l in entry.lines)
    assert (entry.entry_key, entry.date, entry.source_type, entry.source_id) == (
        f"{document.document_type}:7:issued", ISSUED, document.document_type, "7")


def test_zero_invoice_posts_nothing():
    assert issued_entry(doc(fee("0.00"), fee("0.00", "api")), CHART) is None


def test_void_is_the_exact_reversal_of_the_issued_entry():
    document = doc(fee("31.00"), taxes=[DocumentTax("S", D("19"), "DE", D("5.89"))])
    issued = issued_entry(document, CHART)
    void = void_entry(document, issued, on=date(2026, 4, 9))
    assert (void.entry_key, void.reverses, void.date) == ("invoice:7:void", "invoice:7:issued", date(2026, 4, 9))
    assert [(l.account, l.product, l.debit, l.credit) for l in void.lines] == [
        (l.account, l.product, l.credit, l.debit) for l in issued.lines]
    net = {}
    for line in issued.lines + void.lines:
        net[line.account] = net.get(line.account, D(0)) + line.amount
    assert set(net.values()) == {D(0)}


def test_payment_debits_cash_and_credits_the_receivable():
    entry = payment_entry(key="psp-123", legal_entity="acme-us", on=ISSUED, currency="USD", amount=D("48.35"),
                          chart=CHART)
    assert entry.entry_key == "payment:psp-123" and entry.source_type == "payment"
    assert shape(entry) == [("1000", None, "48.35", "0.00"), ("1100", None, "0.00", "48.35")]
    for bad in (D("0"), D("-5.00")):
        with pytest.raises(Exception, match="positive Decimal"):
            payment_entry(key="x", legal_entity="acme-us", on=ISSUED, currency="USD", amount=bad, chart=CHART)


REFUSED = {
    "unbalanced": ([JournalLine("1100", debit=D("10.00")), JournalLine("4000", credit=D("9.99"))], "differ by 0.01"),
    "one-sided": ([JournalLine("1100", debit=D("10.00"))], "at least one debit and one credit"),
    "sub-cent amount": ([JournalLine("1100", debit=D("10.005")), JournalLine("4000", credit=D("10.005"))],
                        "more digits than USD allows"),
}


@pytest.mark.parametrize("lines, message", REFUSED.values(), ids=REFUSED.keys())
def test_unbalanced_or_malformed_entries_cannot_be_built(lines, message):
    with pytest.raises(UnbalancedEntry, match=message):
        JournalEntry(entry_key="k", legal_entity="acme-us", date=ISSUED, currency="USD", lines=lines)


@pytest.mark.parametrize("kwargs, message", [
    ({"debit": 10.0}, "finite Decimal"), ({"debit": D("-1")}, "never negative"),
    ({"debit": D("1"), "credit": D("1")}, "exactly one"), ({}, "exactly one"),
])
def test_malformed_lines_are_refused(kwargs, message):
    with pytest.raises(UnbalancedEntry, match=message):
        JournalLine("1100", **kwargs)


def test_same_content_same_hash_whatever_the_scale():
    def make(amount):
        return JournalEntry(entry_key="k", legal_entity="acme-us", date=ISSUED, currency="USD", lines=[
            JournalLine("1100", debit=amount), JournalLine("4000", credit=amount)])
    assert make(D("10")).content_hash == make(D("10.00")).content_hash != make(D("10.01")).content_hash
    assert make(D("10")).lines[0].debit.as_tuple().exponent == -2


def test_missing_mappings_name_entity_product_and_role():
    chart = Chart("acme-us", ACCOUNTS, {("receivable", ""): "1100", ("revenue", "api"): "9999"})
    document = doc(fee("31.00"), fee("5.00", "api"), taxes=[DocumentTax("S", D("19"), "DE", D("6.84"))])
    gaps = mapping_gaps(document, chart)
    assert gaps == [MappingGap("acme-us", "revenue", "platform"), MappingGap("acme-us", "revenue", "api", "9999"),
                    MappingGap("acme-us", "tax", "")]
    assert str(gaps[0]) == ("legal entity acme-us: no GL account is mapped for role 'revenue' and product "
                            "'platform', and there is no default for that role (product '')")
    assert "mapped to account '9999', which is not in the entity's chart of accounts" in str(gaps[1])
    assert gaps[2].root_cause == "gl_mapping:acme-us:tax:*"
    with pytest.raises(MissingMapping) as refused:
        issued_entry(document, chart)
    assert refused.value.gaps == gaps and len(refused.value.problems) == 3
    assert str(refused.value.problems[2]) == ("legal entity acme-us.gl_mappings: no GL account is mapped for role "
                                              "'tax' (the default for every product)")


def test_before_issue_a_future_line_needs_revenue_and_deferred_revenue():
    chart = Chart("acme-us", ACCOUNTS, {("receivable", ""): "1100", ("revenue", ""): "4000"})
    draft = doc(fee("31.00", start=date(2026, 5, 1)), issued_on=None)
    assert mapping_gaps(draft, chart) == [MappingGap("acme-us", "deferred_revenue", "platform")]
    assert mapping_gaps(doc(fee("31.00", start=date(2026, 4, 1)), issued_on=None), chart) == []


CURRENCIES = st.sampled_from(["USD", "JPY", "KWD", "EUR"])


@st.composite
def documents(draw):
    currency = draw(CURRENCIES)
    step = quantum(currency)
    money = st.integers(-5_000_000, 5_000_000).map(lambda n: n * step)
    day = st.dates(date(2026, 3, 1), date(2026, 5, 31))
    line = st.builds(DocumentLine, money, st.sampled_from(["fee_advance", "usage", "discount", "prepaid_credit"]),
                     st.sampled_from([None, "platform", "api", "seats"]), st.one_of(st.none(), day))
    tax = st.builds(DocumentTax, st.sampled_from(["S", "Z", "AA"]), st.sampled_from([D("19"), D("7"), D("0")]),
                    st.sampled_from(["DE", "FR", ""]), money)
    return Document(id=draw(st.integers(1, 10**9)), document_type=draw(st.sampled_from(["invoice", "credit_note"])),
                    legal_entity="acme-us", currency=currency, billing_date=date(2026, 4, 1), issued_on=draw(day),
                    lines=tuple(draw(st.lists(line, max_size=12))), taxes=tuple(draw(st.lists(tax, max_size=4))))


@given(documents())
def test_any_document_posts_a_balanced_entry_whose_receivable_is_its_total(document):
    entry = issued_entry(document, CHART)
    if entry is None:
        assert document.receivable == 0
        return
    assert sum(l.debit for l in entry.lines) == sum(l.credit for l in entry.lines)
    receivable = sum(l.amount for l in entry.lines if l.account == "1100")
    assert receivable == (document.receivable if document.document_type == "invoice" else -document.receivable)
    for line in entry.lines:
        assert line.debit.as_tuple().exponent == quantum(document.currency).as_tuple().exponent
    reversal = void_entry(document, entry, on=date(2026, 6, 1))
    assert sum(l.amount for l in entry.lines + reversal.lines) == 0


def test_the_worked_example_in_the_docs_is_what_the_rules_post():
    from docpages import read_page

    tables = [rows for kind, rows in read_page(Path(__file__).parents[2] / "docs" / "ledger.md") if kind == "table"]
    mapping = next(t for t in tables if t and set(t[0]) == {"role", "product", "account"})
    invoice = next(t for t in tables if t and "service from" in t[0])
    expected = next(t for t in tables if t and set(t[0]) == {"account", "product", "debit", "credit", "memo"})
    chart = Chart("acme-us", ACCOUNTS, {(m["role"], m["product"]): m["account"] for m in mapping})
    document = Document(
        id=42, document_type="invoice", legal_entity="acme-us", currency="USD", billing_date=date(2026, 4, 1),
        issued_on=date(2026, 4, 2), taxes=(DocumentTax("S", D("8.875"), "US-NY", D("15.53")),),
        lines=tuple(DocumentLine(D(l["amount"]), l["type"], l["product"] or None,
                                 date.fromisoformat(l["service from"]) if l["service from"] else None)
                    for l in invoice))
    entry = issued_entry(document, chart)
    assert [(l.account, l.product or "", str(l.debit) if l.debit else "", str(l.credit) if l.credit else "", l.memo)
            for l in entry.lines] == [(r["account"], r["product"], r["debit"], r["credit"], r["memo"])
                                      for r in expected]
    assert entry.entry_key == "invoice:42:issued" and entry.total == D("200.53")
