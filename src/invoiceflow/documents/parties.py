"""Seller and buyer of a stored invoice, in EN 16931 terms (BG-4, BG-7), from the catalog's records.

The catalog keeps one tax id per legal entity and a list of typed tax ids per customer; EN 16931 tells a VAT
identifier (BT-31/BT-48, with its country prefix) from other registrations. So: a tax id that starts with a
two-letter country prefix is the VAT identifier; any other (a US EIN, a Japanese corporate number) is the
seller's tax registration (BT-32) and, unless the entity's legal registration (BT-30) is configured, also
identifies it for BR-CO-26, as it does in its own country.

Electronic addresses (BT-34/BT-49) come from what identifies a party in the Peppol EAS code list: a
customer's explicit `peppol` tax id ("SCHEME:ID"), else a VAT id of a country with an EAS scheme, else a
national identifier with one (US EIN 9959, Japanese corporate number 0188), else an e-mail address (scheme
EM, valid under EN 16931 but not on the Peppol list; Peppol documents drop it and then name the missing
BT-34/BT-49, see `for_profile`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from invoiceflow.documents.formats import Profile
from invoiceflow.documents.model import (
    Address,
    Contact,
    ElectronicAddress,
    Invoice,
    LegalRegistration,
    Party,
    PaymentMeans,
)
from invoiceflow.gates.rules.tax_data import TAX_ID_TYPES  # the customer tax id types the tax engine reads

#: Peppol EAS schemes for VAT numbers, by the VAT id's country prefix (EL is Greece's prefix).
VAT_SCHEMES = {
    "AD": "9922", "AL": "9923", "AT": "9914", "BA": "9924", "BE": "9925", "BG": "9926", "CH": "9927",
    "CY": "9928", "CZ": "9929", "DE": "9930", "EE": "9931", "ES": "9920", "FR": "9957", "GB": "9932",
    "EL": "9933", "GR": "9933", "HR": "9934", "HU": "9910", "IE": "9935", "IT": "0211", "LI": "9936",
    "LT": "9937", "LU": "9938", "LV": "9939", "MC": "9940", "ME": "9941", "MK": "9942", "MT": "9943",
    "NL": "9944", "PL": "9945", "PT": "9946", "RO": "9947", "RS": "9948", "SI": "9949", "SK": "9950",
    "SM": "9951", "TR": "9952", "VA": "9953",
}
#: Peppol EAS schemes for a country's other national identifier: US EIN, Japanese corporate number.
NATIONAL_SCHEMES = {"US": "9959", "JP": "0188"}
EMAIL_SCHEME = "EM"
_VAT_ID = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,13}$")


def is_vat_id(value: str | None) -> bool:
    """A VAT identifier carries its country prefix (BR-CO-9); other tax ids are registrations."""
    return bool(value) and bool(_VAT_ID.match(value.replace(" ", "")))


def address(data: Mapping[str, Any] | None, country: str | None = None) -> Address:
    """The catalog's address JSON (line1, line2, city, postal_code, region, country) as BG-5/BG-8."""
    data = data or {}
    lines = tuple(str(data[key]) for key in ("line1", "line2") if data.get(key))
    return Address(country=str(data.get("country") or country or ""), lines=lines, city=data.get("city") or None,
                   postcode=data.get("postal_code") or None, subdivision=data.get("region") or None)


def seller(entity: Mapping[str, Any], details: Mapping[str, Any] | None) -> Party:
    """The legal entity as seller; `details` is its legal_entity_payment row, if any."""
    details = details or {}
    tax_id = (entity["tax_id"] or "").strip() or None
    vat_id = tax_id if is_vat_id(tax_id) else None
    registration_id = details.get("legal_registration_id") or (None if vat_id else tax_id)
    contact = Contact(details.get("contact_name"), details.get("contact_phone"), details.get("contact_email"))
    return Party(
        name=entity["name"],
        address=address(entity["address"], entity["country"]),
        vat_id=vat_id,
        tax_registration_id=None if vat_id else tax_id,
        legal_registration=LegalRegistration(registration_id) if registration_id else None,
        electronic_address=_seller_endpoint(vat_id, tax_id, entity["country"], contact.email),
        contact=contact if (contact.name or contact.phone or contact.email) else None,
    )


def _seller_endpoint(vat_id: str | None, tax_id: str | None, country: str,
                     email: str | None) -> ElectronicAddress | None:
    if vat_id and vat_id[:2] in VAT_SCHEMES:
        return ElectronicAddress(vat_id, VAT_SCHEMES[vat_id[:2]])
    if tax_id and country in NATIONAL_SCHEMES:
        return ElectronicAddress(tax_id, NATIONAL_SCHEMES[country])
    return ElectronicAddress(email, EMAIL_SCHEME) if email else None


def buyer(customer: Mapping[str, Any]) -> Party:
    """The customer as buyer: billing address, VAT id or other registration, e-mail as contact."""
    tax_ids = [(str(t.get("type", "")).lower(), str(t.get("value", "")).strip()) for t in customer["tax_ids"] or []]
    known = [(kind, value) for kind, value in tax_ids if kind in TAX_ID_TYPES and value]
    vat_id = next((value for kind, value in known if kind != "us_ein" and is_vat_id(value)), None)
    other = next((value for kind, value in known if value != vat_id), None)
    email = customer["email"] or None
    where = address(customer["billing_address"])
    return Party(
        name=customer["name"],
        address=where,
        vat_id=vat_id,
        legal_registration=LegalRegistration(other) if other and not vat_id else None,
        electronic_address=_buyer_endpoint(tax_ids, vat_id, None if vat_id else other, where.country, email),
        contact=Contact(email=email) if email else None,
    )


def _buyer_endpoint(tax_ids: list[tuple[str, str]], vat_id: str | None, national_id: str | None, country: str,
                    email: str | None) -> ElectronicAddress | None:
    explicit = next((value for kind, value in tax_ids if kind == "peppol" and ":" in value), None)
    if explicit:
        scheme, identifier = explicit.split(":", 1)
        return ElectronicAddress(identifier.strip(), scheme.strip())
    if vat_id and vat_id[:2] in VAT_SCHEMES:
        return ElectronicAddress(vat_id, VAT_SCHEMES[vat_id[:2]])
    if national_id and country in NATIONAL_SCHEMES:
        return ElectronicAddress(national_id, NATIONAL_SCHEMES[country])
    return ElectronicAddress(email, EMAIL_SCHEME) if email else None


def payment_means(details: Mapping[str, Any] | None, remittance: str) -> PaymentMeans | None:
    """BG-16 from the legal entity's payment details; None when no account is configured."""
    if not details or not details.get("account_id"):
        return None
    return PaymentMeans(code=details.get("means_code") or "58", account_id=details["account_id"],
                        bic=details.get("bic") or None, account_name=details.get("account_name") or None,
                        remittance_info=remittance)


def for_profile(invoice: Invoice, profile: Profile) -> Invoice:
    """The invoice as `profile` may carry it: Peppol has no e-mail scheme, so such endpoints are dropped
    (the requirements then name BT-34/BT-49 instead of the official rules failing PEPPOL-EN16931-CL008)."""
    if not profile.peppol:
        return invoice
    parties = {}
    for role in ("seller", "buyer"):
        party: Party = getattr(invoice, role)
        if party.electronic_address and party.electronic_address.scheme == EMAIL_SCHEME:
            parties[role] = dataclasses.replace(party, electronic_address=None)
    return dataclasses.replace(invoice, **parties) if parties else invoice
