"""The invoice JSON: published schema, floats refused, every problem reported with its JSON path."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from invoiceflow.documents.invoice_input import SCHEMA_PATH, InvoiceInputError, load_invoice, parse_invoice
from invoiceflow.documents.model import CREDIT_NOTE, INVOICE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "einvoice"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
DOMESTIC = json.loads((FIXTURES / "domestic-de.json").read_text(encoding="utf-8"))


def problems_of(doc) -> list[str]:
    with pytest.raises(InvoiceInputError) as info:
        parse_invoice(doc)
    return [str(p) for p in info.value.problems]


def test_schema_is_valid_draft_2020_12_and_published_with_the_package():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA_PATH.name == "einvoice-invoice.schema.json" and SCHEMA_PATH.parent.name == "schemas"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_fixture_is_schema_valid_and_parses(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert Draft202012Validator(SCHEMA).is_valid(doc)
    assert load_invoice(path).number == doc["number"]


def test_parses_into_the_model():
    inv = parse_invoice(DOMESTIC)
    assert (inv.number, inv.type_code, inv.currency, inv.issue_date) == ("INV-2024-0001", INVOICE, "EUR", date(2024, 6, 3))
    assert inv.lines[0].quantity == Decimal("12.5") and inv.lines[0].net_price == Decimal("95.00")
    assert inv.lines[0].vat.category == "S" and inv.lines[0].vat.rate == Decimal("19")
    assert inv.seller.electronic_address.scheme == "9930" and inv.buyer.address.lines == ("Am Markt 1", "Gebäude B")
    assert inv.payment_means.code == "58" and inv.payment_means.account_id == "DE89370400440532013000"
    assert inv.period.start == date(2024, 5, 1) and inv.lines[1].period.end == date(2024, 5, 31)


def test_credit_note_and_vat_defaults():
    doc = json.loads((FIXTURES / "credit-note-de.json").read_text(encoding="utf-8"))
    inv = parse_invoice(doc)
    assert inv.type_code == CREDIT_NOTE and inv.preceding_invoice.number == "INV-2024-0001"
    rc = parse_invoice(json.loads((FIXTURES / "reverse-charge-at.json").read_text(encoding="utf-8")))
    assert [line.vat.rate for line in rc.lines] == [Decimal(0), Decimal(0)]
    outside = parse_invoice(json.loads((FIXTURES / "outside-scope-de.json").read_text(encoding="utf-8")))
    assert outside.lines[0].vat.rate is None


def test_floats_are_refused_with_their_path():
    doc = copy.deepcopy(DOMESTIC)
    doc["lines"][0]["net_price"] = 95.5
    doc["lines"][1]["quantity"] = 1.0
    assert problems_of(doc) == [
        'invoice.lines[0].net_price: must be a decimal string or an integer, not float 95.5 (floats lose cents; quote the number: "95.5")',
        'invoice.lines[1].quantity: must be a decimal string or an integer, not float 1.0 (floats lose cents; quote the number: "1.0")',
    ]


def test_schema_problems_name_the_json_path():
    doc = copy.deepcopy(DOMESTIC)
    del doc["seller"]["name"]
    doc["currency"] = "euro"
    doc["lines"][0]["vat"]["category"] = "X"
    doc["lines"][1]["allowances"] = [{"amount": "1"}]
    doc["issue_date"] = "2024-02-30"
    found = problems_of(doc)
    assert "invoice.currency: 'euro' does not match '^[A-Z]{3}$'" in found
    assert "invoice.seller: 'name' is a required property" in found
    assert any(p.startswith("invoice.lines[0].vat.category: 'X' is not one of") for p in found)
    assert any(p.startswith("invoice.lines[1].allowances[0]: invalid: An allowance or charge") for p in found)
    assert "invoice.issue_date: '2024-02-30' is not a 'date'" in found


def test_amount_and_percent_are_exclusive_and_percent_needs_a_base_on_the_document():
    doc = copy.deepcopy(DOMESTIC)
    doc["lines"][0]["allowances"] = [{"amount": "1", "percent": "5", "reason": "x"}]
    doc["allowances"] = [{"percent": "5", "reason": "x", "vat": {"category": "S", "rate": "19"}}]
    found = problems_of(doc)
    assert any(p.startswith("invoice.lines[0].allowances[0]: invalid") for p in found)
    assert any(p.startswith("invoice.allowances[0]: invalid") for p in found)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(InvoiceInputError, match="cannot read"):
        load_invoice(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(InvoiceInputError, match="is not valid JSON"):
        load_invoice(bad)
