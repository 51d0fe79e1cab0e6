"""Read the documented invoice JSON (schemas/einvoice-invoice.schema.json) into the invoice model.

Three passes, each reporting every problem with its JSON path so a user can fix the file in one go:
floats are refused first (a float has already lost the cents the user meant), then the JSON Schema is
applied, then the values are converted. Business rules (which terms a format needs) are checked later by
requirements.py, because they depend on the chosen format.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from invoiceflow.documents.model import (
    CREDIT_NOTE,
    INVOICE,
    Address,
    AllowanceCharge,
    Contact,
    Delivery,
    DocumentReference,
    ElectronicAddress,
    Invoice,
    LegalRegistration,
    Line,
    Party,
    PaymentMeans,
    Period,
    VatExemption,
    VatRate,
)
from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import to_decimal

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "einvoice-invoice.schema.json"
_RECORD = "invoice"


class InvoiceInputError(ValidationError):
    """The invoice JSON is malformed; each problem names the JSON path at fault."""


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _floats(value: Any, path: list) -> list[Problem]:
    if isinstance(value, float):
        return [Problem(_RECORD, _path(path), f"must be a decimal string or an integer, not float {value!r} "
                        f"(floats lose cents; quote the number: \"{value}\")")]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _floats(item, path + [key])]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _floats(item, path + [index])]
    return []


def _schema_message(error) -> str:
    if error.validator in ("oneOf", "anyOf") and "description" in error.schema:
        return f"invalid: {error.schema['description']}"
    return error.message


def parse_invoice(document: Any) -> Invoice:
    """Validate a decoded JSON document and build the Invoice; raises InvoiceInputError listing every problem."""
    problems = _floats(document, [])
    if not problems:
        errors = sorted(_validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
        problems = [Problem(_RECORD, _path(e.absolute_path), _schema_message(e)) for e in errors]
    if problems:
        raise InvoiceInputError(problems)
    return _invoice(document)


def load_invoice(path: str | Path) -> Invoice:
    """Read and parse an invoice JSON file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InvoiceInputError(f"cannot read {path}: {error.strerror or error}", record=_RECORD) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvoiceInputError(f"{path} is not valid JSON: {error}", record=_RECORD) from None
    return parse_invoice(document)


def _dec(value: Any) -> Decimal:
    return to_decimal(value)


def _opt_dec(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _period(doc: dict | None) -> Period | None:
    return None if doc is None else Period(_date(doc.get("start")), _date(doc.get("end")))


def _address(doc: dict | None) -> Address | None:
    if doc is None:
        return None
    return Address(doc["country"], tuple(doc.get("lines", ())), doc.get("city"), doc.get("postcode"), doc.get("subdivision"))


def _party(doc: dict) -> Party:
    legal = doc.get("legal_id")
    endpoint = doc.get("electronic_address")
    contact = doc.get("contact")
    return Party(
        name=doc["name"],
        address=_address(doc["address"]),
        vat_id=doc.get("vat_id"),
        tax_registration_id=doc.get("tax_registration_id"),
        legal_registration=LegalRegistration(legal["id"], legal.get("scheme")) if legal else None,
        trading_name=doc.get("trading_name"),
        electronic_address=ElectronicAddress(endpoint["id"], endpoint["scheme"]) if endpoint else None,
        contact=Contact(contact.get("name"), contact.get("phone"), contact.get("email")) if contact else None,
    )


def _vat(doc: dict) -> VatRate:
    category = doc["category"]
    if "rate" in doc:
        return VatRate(category, _dec(doc["rate"]))
    return VatRate(category, None if category in ("O", "S") else Decimal(0))


def _adjustments(doc: dict, *, document_level: bool) -> tuple[AllowanceCharge, ...]:
    result = []
    for key, charge in (("allowances", False), ("charges", True)):
        for item in doc.get(key, ()):
            result.append(AllowanceCharge(
                charge=charge,
                reason=item.get("reason"),
                reason_code=item.get("reason_code"),
                amount=_opt_dec(item.get("amount")),
                percent=_opt_dec(item.get("percent")),
                base_amount=_opt_dec(item.get("base_amount")),
                vat=_vat(item["vat"]) if document_level else None,
            ))
    return tuple(result)


def _line(doc: dict) -> Line:
    return Line(
        id=doc["id"],
        name=doc["name"],
        quantity=_dec(doc["quantity"]),
        unit_code=doc["unit"],
        net_price=_dec(doc["net_price"]),
        vat=_vat(doc["vat"]),
        price_base_quantity=_dec(doc.get("price_base_quantity", 1)),
        description=doc.get("description"),
        note=doc.get("note"),
        seller_item_id=doc.get("seller_item_id"),
        period=_period(doc.get("period")),
        allowances_charges=_adjustments(doc, document_level=False),
    )


def _invoice(doc: dict) -> Invoice:
    payment = doc.get("payment")
    delivery = doc.get("delivery")
    preceding = doc.get("preceding_invoice")
    return Invoice(
        number=doc["number"],
        issue_date=date.fromisoformat(doc["issue_date"]),
        currency=doc["currency"],
        seller=_party(doc["seller"]),
        buyer=_party(doc["buyer"]),
        lines=tuple(_line(line) for line in doc["lines"]),
        type_code=CREDIT_NOTE if doc.get("type") == "credit_note" else INVOICE,
        due_date=_date(doc.get("due_date")),
        payment_terms=doc.get("payment_terms"),
        buyer_reference=doc.get("buyer_reference"),
        purchase_order=doc.get("purchase_order"),
        preceding_invoice=DocumentReference(preceding["number"], _date(preceding.get("issue_date"))) if preceding else None,
        period=_period(doc.get("period")),
        delivery=Delivery(_date(delivery.get("date")), delivery.get("name"), _address(delivery.get("address"))) if delivery else None,
        allowances_charges=_adjustments(doc, document_level=True),
        exemptions=tuple(
            VatExemption(category, entry.get("reason"), entry.get("code"))
            for category, entry in doc.get("vat_exemptions", {}).items()
        ),
        payment_means=PaymentMeans(
            code=payment.get("means_code", "58"),
            account_id=payment.get("account_id"),
            bic=payment.get("bic"),
            account_name=payment.get("account_name"),
            remittance_info=payment.get("remittance_info"),
        ) if payment else None,
        notes=tuple(doc.get("notes", ())),
        prepaid_amount=_dec(doc.get("prepaid_amount", 0)),
        rounding_amount=_dec(doc.get("rounding_amount", 0)),
    )
