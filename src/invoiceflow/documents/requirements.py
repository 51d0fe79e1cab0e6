"""What each format demands of an invoice, checked before anything is written.

A document that the official rules would reject is not worth writing: the reader would bounce it and the
seller learns why days later. So every rule we can decide from the model is checked here and reported by
business term (BT-n), e.g. "BT-48 buyer VAT identifier is required for VAT category AE (reverse charge)".
The official validators (validation.py) remain the authority; this list keeps users from reaching them with
an invoice that cannot pass.
"""

from __future__ import annotations

import re

from invoiceflow.documents.formats import Profile
from invoiceflow.documents.model import (
    CREDIT_NOTE,
    DOCUMENT_TYPES,
    EXEMPTION_DEFAULTS,
    PAYMENT_MEANS,
    VAT_CATEGORIES,
    AllowanceCharge,
    Invoice,
    Period,
    VatRate,
)
from invoiceflow.documents.totals import Totals
from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import div, is_currency, mul

_COUNTRY_PREFIX = re.compile(r"^[A-Z]{2}")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
#: Largest deviation Peppol accepts between a stated amount and its own arithmetic (PEPPOL-EN16931-R040/R120).
_PEPPOL_SLACK = 2  # hundredths


class MissingTerm(Problem):
    """A business term the format needs or forbids; prints as "BT-48 buyer VAT identifier is required ..."."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.field} {self.message}"


class RequirementsError(ValidationError):
    """The invoice cannot be written in the chosen format; `terms` lists the business terms at fault."""

    @property
    def terms(self) -> list[str]:
        return [problem.field for problem in self.problems]


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: country, check digits, and the mod-97 remainder of the rearranged number is 1."""
    compact = iban.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    digits = "".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def check(invoice: Invoice, totals: Totals, profile: Profile) -> list[Problem]:
    """Every business-term problem that would make `profile`'s rules reject the invoice."""
    found: list[Problem] = []

    def need(term: str, message: str) -> None:
        problem = MissingTerm("", term, message)
        if problem not in found:
            found.append(problem)

    _document(invoice, totals, need)
    _parties(invoice, need)
    _lines_and_allowances(invoice, need)
    _categories(invoice, need)
    _payment(invoice, profile, need)
    if profile.peppol:
        _peppol(invoice, totals, need)
    if german_rules_apply(invoice, profile):
        _german(invoice, profile, need)
    return found


def german_rules_apply(invoice: Invoice, profile: Profile) -> bool:
    """XRechnung always; Peppol when seller and buyer are both in Germany (its DE-R-* rules)."""
    both_de = invoice.seller.address.country == invoice.buyer.address.country == "DE"
    return profile.xrechnung or (profile.peppol and both_de)


def require(invoice: Invoice, totals: Totals, profile: Profile) -> None:
    """Raise RequirementsError listing every problem `check` finds."""
    problems = check(invoice, totals, profile)
    if problems:
        raise RequirementsError(problems)


def _document(invoice: Invoice, totals: Totals, need) -> None:
    if not invoice.number.strip():
        need("BT-1", "invoice number is required")
    if invoice.type_code not in DOCUMENT_TYPES:
        need("BT-3", f"invoice type code must be one of {', '.join(DOCUMENT_TYPES)}, not {invoice.type_code!r}")
    if not is_currency(invoice.currency):
        need("BT-5", f"{invoice.currency!r} is not an ISO 4217 currency code")
    if invoice.type_code == CREDIT_NOTE and invoice.preceding_invoice is None:
        need("BT-25", "preceding invoice reference is required for a credit note (381)")
    if not invoice.lines:
        need("BG-25", "an invoice needs at least one line")
    if totals.payable > 0 and invoice.due_date is None and not invoice.payment_terms:
        need("BT-9", "payment due date or BT-20 payment terms are required when an amount is due (BR-CO-25)")
    _period(invoice.period, "BG-14", "invoicing period", need)


def _period(period: Period | None, group: str, what: str, need) -> None:
    if period is None:
        return
    if period.start is None and period.end is None:
        need(group, f"{what} needs a start or an end date")
    elif period.start and period.end and period.end < period.start:
        need(group, f"{what} ends ({period.end}) before it starts ({period.start})")


def _parties(invoice: Invoice, need) -> None:
    seller, buyer = invoice.seller, invoice.buyer
    for party, name_bt, country_bt, role in ((seller, "BT-27", "BT-40", "seller"), (buyer, "BT-44", "BT-55", "buyer")):
        if not party.name.strip():
            need(name_bt, f"{role} name is required")
        if not re.fullmatch(r"[A-Z]{2}", party.address.country or ""):
            need(country_bt, f"{role} country code (ISO 3166-1 alpha-2) is required")
    if invoice.outside_scope_only():
        if seller.legal_registration is None:
            need("BT-30", "seller legal registration identifier is required when VAT identifiers must be omitted (category O)")
        return
    for term, vat_id, role in (("BT-31", seller.vat_id, "seller"), ("BT-48", buyer.vat_id, "buyer")):
        if vat_id and not _COUNTRY_PREFIX.match(vat_id):
            need(term, f"{role} VAT identifier must start with a country prefix (BR-CO-9)")
    if not (seller.vat_id or seller.legal_registration):
        need("BT-31", "seller VAT identifier or BT-30 legal registration identifier is required (BR-CO-26)")


def _lines_and_allowances(invoice: Invoice, need) -> None:
    for line in invoice.lines:
        where = f"of line {line.id}"
        if not line.name.strip():
            need("BT-153", f"item name {where} is required")
        if not line.unit_code.strip():
            need("BT-130", f"unit of measure code {where} is required")
        if line.net_price < 0:
            need("BT-146", f"item net price {where} must not be negative (BR-27)")
        _vat(line.vat, "BT-151", "BT-152", where, need)
        _period(line.period, "BG-26", f"period {where}", need)
        for ac in line.allowances_charges:
            _reason(ac, ("BT-144", "BT-145") if ac.charge else ("BT-139", "BT-140"), where, need)
    for ac in invoice.allowances_charges:
        kind = "document level charge" if ac.charge else "document level allowance"
        if ac.vat is None:
            need("BT-102" if ac.charge else "BT-95", f"VAT category of a {kind} is required")
        else:
            _vat(ac.vat, "BT-102" if ac.charge else "BT-95", "BT-103" if ac.charge else "BT-96", f"of a {kind}", need)
        _reason(ac, ("BT-104", "BT-105") if ac.charge else ("BT-97", "BT-98"), f"of a {kind}", need)


def _reason(ac: AllowanceCharge, terms: tuple[str, str], where: str, need) -> None:
    if not (ac.reason or ac.reason_code):
        need(terms[0], f"{'charge' if ac.charge else 'allowance'} reason or {terms[1]} reason code {where} is required")


def _vat(vat: VatRate, category_bt: str, rate_bt: str, where: str, need) -> None:
    if vat.category not in VAT_CATEGORIES:
        need(category_bt, f"VAT category {vat.category!r} {where} is not one of {', '.join(VAT_CATEGORIES)}")
    elif vat.category == "O":
        if vat.rate is not None:
            need(rate_bt, f"VAT rate {where} must be absent for category O (not subject to VAT)")
    elif vat.rate is None:
        need(rate_bt, f"VAT rate {where} is required for category {vat.category}")
    elif vat.category == "S" and vat.rate <= 0:
        need(rate_bt, f"VAT rate {where} must be above zero for category S (standard rated)")
    elif vat.category != "S" and vat.rate != 0:
        need(rate_bt, f"VAT rate {where} must be 0 for category {vat.category} ({VAT_CATEGORIES[vat.category]})")


def _categories(invoice: Invoice, need) -> None:
    seller, buyer = invoice.seller, invoice.buyer
    used = invoice.categories()
    for category in used:
        label = f"VAT category {category} ({VAT_CATEGORIES.get(category, 'unknown')})"
        if category in ("S", "Z", "E", "AE") and not (seller.vat_id or seller.tax_registration_id):
            need("BT-31", f"seller VAT identifier or BT-32 tax registration identifier is required for {label}")
        if category in ("K", "G") and not seller.vat_id:
            need("BT-31", f"seller VAT identifier is required for {label}")
        if category in ("AE", "K") and not buyer.vat_id:
            need("BT-48", f"buyer VAT identifier is required for {label}")
        if category == "K":
            delivery = invoice.delivery
            if not (delivery and delivery.date) and invoice.period is None:
                need("BT-72", f"actual delivery date or BG-14 invoicing period is required for {label}")
            if not (delivery and delivery.address):
                need("BT-80", f"deliver-to country code is required for {label}")
        if category == "E" and invoice.exemption_for("E") == (None, None):
            need("BT-120", f"VAT exemption reason text or BT-121 reason code is required for {label}")
    if "O" in used and len(used) > 1:
        need("BT-151", "VAT category O (not subject to VAT) cannot be combined with other categories (BR-O-11..14)")
    for exemption in invoice.exemptions:
        if exemption.category not in EXEMPTION_DEFAULTS:
            need("BT-120", f"VAT category {exemption.category} must not carry an exemption reason (BR-S-10, BR-Z-10)")
        elif exemption.category not in used:
            need("BT-120", f"exemption reason given for VAT category {exemption.category}, which no line uses")


def _payment(invoice: Invoice, profile: Profile, need) -> None:
    means = invoice.payment_means
    if means is None:
        if invoice.is_credit_note and invoice.due_date and profile.syntax == "ubl":
            need("BG-16", "payment instructions are required to carry BT-9 due date on a UBL credit note")
        return
    if means.code not in PAYMENT_MEANS:
        need("BT-81", f"payment means code must be one of {', '.join(PAYMENT_MEANS)}, not {means.code!r}")
    label = f"{PAYMENT_MEANS.get(means.code, 'credit transfer')} ({means.code})"
    if not means.account_id:
        need("BT-84", f"payment account identifier (IBAN) is required for {label}")
    elif means.code == "58" and not iban_is_valid(means.account_id):
        need("BT-84", f"payment account identifier {means.account_id!r} is not a valid IBAN, required for {label}")


def _peppol(invoice: Invoice, totals: Totals, need) -> None:
    if not (invoice.buyer_reference or invoice.purchase_order):
        need("BT-10", "buyer reference or BT-13 purchase order reference is required by Peppol (PEPPOL-EN16931-R003)")
    if invoice.seller.electronic_address is None:
        need("BT-34", "seller electronic address is required by Peppol (PEPPOL-EN16931-R020)")
    if invoice.buyer.electronic_address is None:
        need("BT-49", "buyer electronic address is required by Peppol (PEPPOL-EN16931-R010)")
    both_de = invoice.seller.address.country == invoice.buyer.address.country == "DE"
    if len(invoice.notes) > 1 and not both_de:
        need("BT-22", "Peppol allows one invoice note unless seller and buyer are in Germany (PEPPOL-EN16931-R002)")
    for item in totals.lines:
        line = item.line
        exact = div(mul(line.quantity, line.net_price), line.price_base_quantity)
        if abs(item.price_amount - exact) * 100 > _PEPPOL_SLACK:
            need("BT-131", f"quantity x net price of line {line.id} ({exact}) is not a whole {invoice.currency} amount; "
                 "Peppol accepts a deviation of 0.02 only (PEPPOL-EN16931-R120)")
        for resolved in item.allowances_charges:
            term = "BT-141" if resolved.spec.charge else "BT-136"
            _peppol_percent(resolved.spec, resolved.amount, resolved.base_amount, term, f"line {line.id}", invoice.currency, need)
        _peppol_line_period(line.id, line.period, invoice.period, need)
    for resolved in totals.allowances_charges:
        term = "BT-99" if resolved.spec.charge else "BT-92"
        _peppol_percent(resolved.spec, resolved.amount, resolved.base_amount, term, "the document", invoice.currency, need)


def _peppol_line_period(line_id: str, period: Period | None, invoice_period: Period | None, need) -> None:
    if period is None or invoice_period is None:
        return
    if period.start and invoice_period.start and period.start < invoice_period.start:
        need("BT-134", f"period of line {line_id} starts before the invoicing period (PEPPOL-EN16931-R110)")
    if period.end and invoice_period.end and period.end > invoice_period.end:
        need("BT-135", f"period of line {line_id} ends after the invoicing period (PEPPOL-EN16931-R111)")


def _peppol_percent(spec: AllowanceCharge, amount, base, term: str, where: str, currency: str, need) -> None:
    if spec.percent is None or base is None:
        return
    exact = div(mul(base, spec.percent), 100)
    if abs(amount - exact) * 100 > _PEPPOL_SLACK:
        need(term, f"percentage allowance/charge on {where} ({exact}) is not a whole {currency} amount; "
             "Peppol accepts a deviation of 0.02 only (PEPPOL-EN16931-R040)")


def _german(invoice: Invoice, profile: Profile, need) -> None:
    """The German rules (XRechnung BR-DE-*, Peppol DE-R-* when seller and buyer are both in Germany)."""
    source = "XRechnung" if profile.xrechnung else "Peppol for German seller and buyer"
    seller, buyer = invoice.seller, invoice.buyer
    contact = seller.contact
    checks = [
        ("BT-10", invoice.buyer_reference, "buyer reference"),
        ("BG-16", invoice.payment_means, "payment instructions"),
        ("BT-37", seller.address.city, "seller city"),
        ("BT-38", seller.address.postcode, "seller post code"),
        ("BT-41", contact and contact.name, "seller contact point"),
        ("BT-42", contact and contact.phone, "seller contact telephone number"),
        ("BT-43", contact and contact.email, "seller contact email address"),
        ("BT-52", buyer.address.city, "buyer city"),
        ("BT-53", buyer.address.postcode, "buyer post code"),
    ]
    if profile.xrechnung:
        checks += [
            ("BT-34", seller.electronic_address, "seller electronic address"),
            ("BT-49", buyer.electronic_address, "buyer electronic address"),
        ]
    delivery_address = invoice.delivery.address if invoice.delivery else None
    if delivery_address is not None:
        checks += [("BT-77", delivery_address.city, "deliver-to city"), ("BT-78", delivery_address.postcode, "deliver-to post code")]
    for term, value, what in checks:
        if not value:
            need(term, f"{what} is required by {source}")
    if not invoice.outside_scope_only() and not (seller.vat_id or seller.tax_registration_id):
        need("BT-31", f"seller VAT identifier or BT-32 tax registration identifier is required by {source}")
