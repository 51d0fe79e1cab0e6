"""Data a format needs is refused before writing, listed by business term."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from invoiceflow.documents.invoice_input import parse_invoice
from invoiceflow.documents.formats import FORMATS, get_profile
from invoiceflow.documents.render import render
from invoiceflow.documents.requirements import RequirementsError, iban_is_valid
from invoiceflow.errors import ValidationError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "einvoice"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def refusal(doc: dict, fmt: str = "ubl") -> RequirementsError:
    with pytest.raises(RequirementsError) as info:
        render(parse_invoice(doc), fmt)
    return info.value


def test_reverse_charge_without_buyer_vat_id_names_bt_48():
    doc = fixture("reverse-charge-at")
    del doc["buyer"]["vat_id"]
    error = refusal(doc)
    assert error.terms == ["BT-48"]
    assert str(error.problems[0]) == "BT-48 buyer VAT identifier is required for VAT category AE (reverse charge)"


def test_sepa_without_iban_and_with_a_bad_iban():
    doc = fixture("domestic-de")
    del doc["payment"]["account_id"]
    assert [str(p) for p in refusal(doc).problems] == [
        "BT-84 payment account identifier (IBAN) is required for SEPA credit transfer (58)"]
    doc["payment"]["account_id"] = "DE89370400440532013001"
    assert "is not a valid IBAN" in str(refusal(doc).problems[0])


def test_several_missing_terms_are_listed_together():
    doc = fixture("intra-community-fr")
    del doc["buyer"]["vat_id"], doc["delivery"], doc["seller"]["vat_id"]
    assert refusal(doc).terms == ["BT-31", "BT-48", "BT-72", "BT-80"]


def test_exempt_needs_a_reason_and_standard_rate_must_not_have_one():
    doc = fixture("exempt-de")
    del doc["vat_exemptions"]
    assert refusal(doc).terms == ["BT-120"]
    doc = fixture("domestic-de")
    doc["vat_exemptions"] = {"E": {"reason": "not used"}}
    assert "which no line uses" in str(refusal(doc).problems[0])


@pytest.mark.parametrize(("vat", "term", "text"), [
    ({"category": "S"}, "BT-152", "VAT rate of line 1 is required for category S"),
    ({"category": "S", "rate": "0"}, "BT-152", "must be above zero for category S"),
    ({"category": "Z", "rate": "7"}, "BT-152", "must be 0 for category Z"),
    ({"category": "O", "rate": "0"}, "BT-152", "must be absent for category O"),
])
def test_rates_must_fit_the_category(vat, term, text):
    doc = fixture("domestic-de")
    doc["lines"] = doc["lines"][:1]
    doc["lines"][0]["vat"] = vat
    error = refusal(doc)
    assert error.terms == [term] and text in str(error.problems[0])


def test_outside_scope_cannot_be_mixed():
    doc = fixture("domestic-de")
    doc["lines"][1]["vat"] = {"category": "O"}
    assert "cannot be combined" in str(refusal(doc).problems[0])


def test_credit_note_needs_the_preceding_invoice():
    doc = fixture("credit-note-de")
    del doc["preceding_invoice"]
    assert refusal(doc, "cii").terms == ["BT-25"]


def test_peppol_needs_endpoints_and_one_note_outside_germany():
    doc = fixture("reverse-charge-at")
    del doc["buyer"]["electronic_address"], doc["seller"]["electronic_address"]
    doc["notes"] = ["one", "two"]
    assert refusal(doc, "peppol").terms == ["BT-34", "BT-49", "BT-22"]
    render(parse_invoice(doc), "ubl")  # plain EN 16931 needs none of them


def test_peppol_refuses_line_amounts_it_would_reject_in_zero_decimal_currencies():
    doc = fixture("jpy-de")
    doc["lines"][0]["net_price"] = "1234.5"
    assert "PEPPOL-EN16931-R120" in str(refusal(doc, "peppol").problems[0])


def test_peppol_percentages_and_line_periods():
    doc = fixture("jpy-de")
    doc["lines"][0]["allowances"] = [{"percent": "3", "reason": "Discount"}]  # 3 % of 37035 = 1111.05 yen
    assert refusal(doc, "peppol").terms == ["BT-136"]
    doc = fixture("domestic-de")
    doc["lines"][1]["period"] = {"start": "2024-04-20", "end": "2024-06-10"}
    assert refusal(doc, "peppol").terms == ["BT-134", "BT-135"]
    render(parse_invoice(doc), "cii")


def test_xrechnung_needs_the_german_terms():
    doc = fixture("export-us")
    del doc["buyer_reference"], doc["seller"]["contact"], doc["buyer"]["address"]["city"], doc["payment"]
    error = refusal(doc, "xrechnung-cii")
    assert error.terms == ["BT-10", "BG-16", "BT-41", "BT-42", "BT-43", "BT-52"]
    assert str(error.problems[0]) == "BT-10 buyer reference is required by XRechnung"
    render(parse_invoice(doc), "peppol")  # Peppol's German rules apply only when both parties are in Germany


def test_peppol_applies_the_german_rules_only_between_german_parties():
    doc = fixture("domestic-de")
    del doc["seller"]["contact"]["phone"]
    assert refusal(doc, "peppol").terms == ["BT-42"]
    assert "by Peppol for German seller and buyer" in str(refusal(doc, "peppol").problems[0])
    render(parse_invoice(doc), "ubl")


def test_amount_due_needs_a_due_date_or_terms():
    doc = fixture("domestic-de")
    del doc["due_date"], doc["payment_terms"]
    assert refusal(doc).terms == ["BT-9"]


def test_unknown_format_is_bad_input():
    with pytest.raises(ValidationError, match="unknown e-invoice format 'pdf'"):
        get_profile("pdf")
    assert FORMATS == ("ubl", "peppol", "cii", "xrechnung-ubl", "xrechnung-cii")


@pytest.mark.parametrize(("iban", "ok"), [
    ("DE89370400440532013000", True), ("DE89 3704 0044 0532 0130 00", True), ("de89370400440532013000", True),
    ("DE89370400440532013001", False), ("DE8937040044", False), ("NOTANIBAN", False),
])
def test_iban_check(iban, ok):
    assert iban_is_valid(iban) is ok
