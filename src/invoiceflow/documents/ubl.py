"""OASIS UBL 2.1 Invoice and CreditNote, for plain EN 16931, Peppol BIS Billing 3.0 and XRechnung 3.0.

The three profiles share one syntax binding; they differ in the specification identifier (BT-24), the
business process (BT-23) and in which optional terms their rules make mandatory (checked beforehand by
requirements.py). Element order follows the UBL 2.1 schema, which is strict about sequence.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from invoiceflow.documents.formats import Profile, amount, decimal, iso_date, sub
from invoiceflow.documents.model import Address, AllowanceCharge, Invoice, Party, Period, VatRate
from invoiceflow.documents.requirements import german_rules_apply
from invoiceflow.documents.totals import AllowanceChargeAmount, LineTotal, Totals

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"


def _cac(parent: etree._Element, name: str) -> etree._Element:
    return sub(parent, f"{{{CAC}}}{name}")


def _cbc(parent: etree._Element, name: str, text: str | None, **attributes: str) -> etree._Element | None:
    if text is None or text == "":
        return None
    return sub(parent, f"{{{CBC}}}{name}", text, **attributes)


class _Writer:
    def __init__(self, invoice: Invoice, totals: Totals, profile: Profile):
        self.invoice = invoice
        self.totals = totals
        self.profile = profile
        self.currency = invoice.currency
        self.credit = invoice.is_credit_note
        self.omit_vat_ids = invoice.outside_scope_only()
        # The German rules want BT-119 in every breakdown, 0 for "not subject to VAT" (BR-DE-14, DE-R-014).
        self.rate_for_o = Decimal(0) if german_rules_apply(invoice, profile) else None

    def money(self, parent: etree._Element, name: str, value: Decimal) -> None:
        _cbc(parent, name, amount(value, self.currency), currencyID=self.currency)

    def document(self) -> etree._Element:
        inv = self.invoice
        ns = NS_CREDIT_NOTE if self.credit else NS_INVOICE
        root = etree.Element(f"{{{ns}}}{'CreditNote' if self.credit else 'Invoice'}", nsmap={None: ns, "cac": CAC, "cbc": CBC})
        _cbc(root, "CustomizationID", self.profile.customization_id)
        _cbc(root, "ProfileID", self.profile.profile_id)
        _cbc(root, "ID", inv.number)
        _cbc(root, "IssueDate", iso_date(inv.issue_date))
        if not self.credit and inv.due_date:
            _cbc(root, "DueDate", iso_date(inv.due_date))
        _cbc(root, "CreditNoteTypeCode" if self.credit else "InvoiceTypeCode", inv.type_code)
        for note in inv.notes:
            _cbc(root, "Note", note)
        _cbc(root, "DocumentCurrencyCode", self.currency)
        _cbc(root, "BuyerReference", inv.buyer_reference)
        self.period(root, inv.period)
        if inv.purchase_order:
            _cbc(_cac(root, "OrderReference"), "ID", inv.purchase_order)
        if inv.preceding_invoice:
            ref = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
            _cbc(ref, "ID", inv.preceding_invoice.number)
            if inv.preceding_invoice.issue_date:
                _cbc(ref, "IssueDate", iso_date(inv.preceding_invoice.issue_date))
        self.party(_cac(root, "AccountingSupplierParty"), inv.seller, seller=True)
        self.party(_cac(root, "AccountingCustomerParty"), inv.buyer, seller=False)
        self.delivery(root)
        self.payment(root)
        for item in self.totals.allowances_charges:
            self.allowance_charge(root, item)
        self.tax_total(root)
        self.monetary_total(root)
        for item in self.totals.lines:
            self.line(root, item)
        return root

    def period(self, parent: etree._Element, period: Period | None) -> None:
        if period is None:
            return
        element = _cac(parent, "InvoicePeriod")
        _cbc(element, "StartDate", iso_date(period.start) if period.start else None)
        _cbc(element, "EndDate", iso_date(period.end) if period.end else None)

    def address(self, parent: etree._Element, name: str, address: Address) -> None:
        element = _cac(parent, name)
        lines = list(address.lines) + [None, None, None]
        _cbc(element, "StreetName", lines[0])
        _cbc(element, "AdditionalStreetName", lines[1])
        _cbc(element, "CityName", address.city)
        _cbc(element, "PostalZone", address.postcode)
        _cbc(element, "CountrySubentity", address.subdivision)
        if lines[2]:
            _cbc(_cac(element, "AddressLine"), "Line", lines[2])
        _cbc(_cac(element, "Country"), "IdentificationCode", address.country)

    def party(self, parent: etree._Element, party: Party, *, seller: bool) -> None:
        element = _cac(parent, "Party")
        if party.electronic_address:
            _cbc(element, "EndpointID", party.electronic_address.identifier, schemeID=party.electronic_address.scheme)
        if party.trading_name:
            _cbc(_cac(element, "PartyName"), "Name", party.trading_name)
        self.address(element, "PostalAddress", party.address)
        if party.vat_id and not self.omit_vat_ids:
            self.tax_scheme(element, party.vat_id, "VAT")
        if seller and party.tax_registration_id:
            self.tax_scheme(element, party.tax_registration_id, "FC")
        legal = _cac(element, "PartyLegalEntity")
        _cbc(legal, "RegistrationName", party.name)
        if party.legal_registration:
            reg = party.legal_registration
            _cbc(legal, "CompanyID", reg.identifier, schemeID=reg.scheme)
        contact = party.contact
        if contact and (contact.name or contact.phone or contact.email):
            element_contact = _cac(element, "Contact")
            _cbc(element_contact, "Name", contact.name)
            _cbc(element_contact, "Telephone", contact.phone)
            _cbc(element_contact, "ElectronicMail", contact.email)

    def tax_scheme(self, parent: etree._Element, company_id: str, scheme: str) -> None:
        element = _cac(parent, "PartyTaxScheme")
        _cbc(element, "CompanyID", company_id)
        _cbc(_cac(element, "TaxScheme"), "ID", scheme)

    def delivery(self, root: etree._Element) -> None:
        delivery = self.invoice.delivery
        if delivery is None:
            return
        element = _cac(root, "Delivery")
        _cbc(element, "ActualDeliveryDate", iso_date(delivery.date) if delivery.date else None)
        if delivery.address:
            self.address(_cac(element, "DeliveryLocation"), "Address", delivery.address)
        if delivery.name:
            _cbc(_cac(_cac(element, "DeliveryParty"), "PartyName"), "Name", delivery.name)

    def payment(self, root: etree._Element) -> None:
        inv, means = self.invoice, self.invoice.payment_means
        if means is not None:
            element = _cac(root, "PaymentMeans")
            _cbc(element, "PaymentMeansCode", means.code)
            if self.credit and inv.due_date:
                _cbc(element, "PaymentDueDate", iso_date(inv.due_date))
            _cbc(element, "PaymentID", means.remittance_info)
            account = _cac(element, "PayeeFinancialAccount")
            _cbc(account, "ID", means.account_id)
            _cbc(account, "Name", means.account_name)
            if means.bic:
                _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", means.bic)
        if inv.payment_terms:
            _cbc(_cac(root, "PaymentTerms"), "Note", inv.payment_terms)

    def tax_category(self, parent: etree._Element, name: str, vat: VatRate) -> etree._Element:
        element = _cac(parent, name)
        _cbc(element, "ID", vat.category)
        if vat.rate is not None:
            _cbc(element, "Percent", decimal(vat.rate))
        return element

    def allowance_charge(self, parent: etree._Element, item: AllowanceChargeAmount) -> None:
        spec: AllowanceCharge = item.spec
        element = _cac(parent, "AllowanceCharge")
        _cbc(element, "ChargeIndicator", "true" if spec.charge else "false")
        _cbc(element, "AllowanceChargeReasonCode", spec.reason_code)
        _cbc(element, "AllowanceChargeReason", spec.reason)
        if spec.percent is not None:
            _cbc(element, "MultiplierFactorNumeric", decimal(spec.percent))
        self.money(element, "Amount", item.amount)
        if item.base_amount is not None and spec.percent is not None:
            self.money(element, "BaseAmount", item.base_amount)
        if spec.vat is not None:
            _cbc(_cac(self.tax_category(element, "TaxCategory", spec.vat), "TaxScheme"), "ID", "VAT")

    def tax_total(self, root: etree._Element) -> None:
        element = _cac(root, "TaxTotal")
        self.money(element, "TaxAmount", self.totals.tax_total)
        for entry in self.totals.breakdown:
            subtotal = _cac(element, "TaxSubtotal")
            self.money(subtotal, "TaxableAmount", entry.taxable_amount)
            self.money(subtotal, "TaxAmount", entry.tax_amount)
            rate = entry.rate if entry.rate is not None else self.rate_for_o
            category = self.tax_category(subtotal, "TaxCategory", VatRate(entry.category, rate))
            _cbc(category, "TaxExemptionReasonCode", entry.exemption_code)
            _cbc(category, "TaxExemptionReason", entry.exemption_reason)
            _cbc(_cac(category, "TaxScheme"), "ID", "VAT")

    def monetary_total(self, root: etree._Element) -> None:
        t = self.totals
        element = _cac(root, "LegalMonetaryTotal")
        self.money(element, "LineExtensionAmount", t.line_total)
        self.money(element, "TaxExclusiveAmount", t.tax_exclusive)
        self.money(element, "TaxInclusiveAmount", t.tax_inclusive)
        if any(not item.spec.charge for item in t.allowances_charges):
            self.money(element, "AllowanceTotalAmount", t.allowance_total)
        if any(item.spec.charge for item in t.allowances_charges):
            self.money(element, "ChargeTotalAmount", t.charge_total)
        if t.prepaid:
            self.money(element, "PrepaidAmount", t.prepaid)
        if t.rounding:
            self.money(element, "PayableRoundingAmount", t.rounding)
        self.money(element, "PayableAmount", t.payable)

    def line(self, root: etree._Element, item: LineTotal) -> None:
        line = item.line
        element = _cac(root, "CreditNoteLine" if self.credit else "InvoiceLine")
        _cbc(element, "ID", line.id)
        _cbc(element, "Note", line.note)
        _cbc(element, "CreditedQuantity" if self.credit else "InvoicedQuantity", decimal(line.quantity), unitCode=line.unit_code)
        self.money(element, "LineExtensionAmount", item.net_amount)
        self.period(element, line.period)
        for adjustment in item.allowances_charges:
            self.allowance_charge(element, adjustment)
        product = _cac(element, "Item")
        _cbc(product, "Description", line.description)
        _cbc(product, "Name", line.name)
        if line.seller_item_id:
            _cbc(_cac(product, "SellersItemIdentification"), "ID", line.seller_item_id)
        _cbc(_cac(self.tax_category(product, "ClassifiedTaxCategory", line.vat), "TaxScheme"), "ID", "VAT")
        price = _cac(element, "Price")
        _cbc(price, "PriceAmount", decimal(line.net_price), currencyID=self.currency)
        if line.price_base_quantity != 1:
            _cbc(price, "BaseQuantity", decimal(line.price_base_quantity), unitCode=line.unit_code)


def write_ubl(invoice: Invoice, totals: Totals, profile: Profile) -> bytes:
    """Serialise `invoice` (with its computed `totals`) as a UBL 2.1 Invoice or CreditNote for `profile`."""
    if profile.syntax != "ubl":
        raise ValueError(f"profile {profile.name} is not a UBL profile")
    root = _Writer(invoice, totals, profile).document()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
