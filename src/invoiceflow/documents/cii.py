"""UN/CEFACT Cross Industry Invoice (CII D16B) for EN 16931 and XRechnung 3.0.

CII is the syntax Factur-X/ZUGFeRD embeds in PDF/A-3 and the one many German public buyers prefer. Only the
EN 16931 subset is written; element order follows the D16B schema. Amounts carry no currency attribute in
CII except the VAT total (BT-110), whose currency the rules require.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from invoiceflow.documents.formats import Profile, amount, date_102, decimal, sub
from invoiceflow.documents.model import Address, Invoice, Party, Period, VatRate
from invoiceflow.documents.requirements import german_rules_apply, iban_is_valid
from invoiceflow.documents.totals import AllowanceChargeAmount, LineTotal, Totals

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}


def _ram(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    return sub(parent, f"{{{RAM}}}{name}", text, **attributes)


def _opt(parent: etree._Element, name: str, text: str | None, **attributes: str) -> None:
    if text:
        _ram(parent, name, text, **attributes)


def _date(parent: etree._Element, name: str, value: date, namespace: str = UDT) -> None:
    sub(_ram(parent, name), f"{{{namespace}}}DateTimeString", date_102(value), format="102")


class _Writer:
    def __init__(self, invoice: Invoice, totals: Totals, profile: Profile):
        self.invoice = invoice
        self.totals = totals
        self.profile = profile
        self.currency = invoice.currency
        self.omit_vat_ids = invoice.outside_scope_only()
        # The German rules want BT-119 in every breakdown, 0 for "not subject to VAT" (BR-DE-14).
        self.rate_for_o = Decimal(0) if german_rules_apply(invoice, profile) else None

    def money(self, value: Decimal) -> str:
        return amount(value, self.currency)

    def document(self) -> etree._Element:
        inv = self.invoice
        root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
        context = sub(root, f"{{{RSM}}}ExchangedDocumentContext")
        if self.profile.profile_id:
            _ram(_ram(context, "BusinessProcessSpecifiedDocumentContextParameter"), "ID", self.profile.profile_id)
        _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", self.profile.customization_id)
        header = sub(root, f"{{{RSM}}}ExchangedDocument")
        _ram(header, "ID", inv.number)
        _ram(header, "TypeCode", inv.type_code)
        _date(header, "IssueDateTime", inv.issue_date)
        for note in inv.notes:
            _ram(_ram(header, "IncludedNote"), "Content", note)
        transaction = sub(root, f"{{{RSM}}}SupplyChainTradeTransaction")
        for item in self.totals.lines:
            self.line(transaction, item)
        self.agreement(_ram(transaction, "ApplicableHeaderTradeAgreement"))
        self.delivery(_ram(transaction, "ApplicableHeaderTradeDelivery"))
        self.settlement(_ram(transaction, "ApplicableHeaderTradeSettlement"))
        return root

    def tax(self, parent: etree._Element, name: str, vat: VatRate) -> etree._Element:
        element = _ram(parent, name)
        _ram(element, "TypeCode", "VAT")
        _ram(element, "CategoryCode", vat.category)
        if vat.rate is not None:
            _ram(element, "RateApplicablePercent", decimal(vat.rate))
        return element

    def period(self, parent: etree._Element, period: Period | None) -> None:
        if period is None:
            return
        element = _ram(parent, "BillingSpecifiedPeriod")
        if period.start:
            _date(element, "StartDateTime", period.start)
        if period.end:
            _date(element, "EndDateTime", period.end)

    def allowance_charge(self, parent: etree._Element, item: AllowanceChargeAmount) -> None:
        spec = item.spec
        element = _ram(parent, "SpecifiedTradeAllowanceCharge")
        sub(_ram(element, "ChargeIndicator"), f"{{{UDT}}}Indicator", "true" if spec.charge else "false")
        if spec.percent is not None:
            _ram(element, "CalculationPercent", decimal(spec.percent))
            if item.base_amount is not None:
                _ram(element, "BasisAmount", self.money(item.base_amount))
        _ram(element, "ActualAmount", self.money(item.amount))
        _opt(element, "ReasonCode", spec.reason_code)
        _opt(element, "Reason", spec.reason)
        if spec.vat is not None:
            self.tax(element, "CategoryTradeTax", spec.vat)

    def line(self, transaction: etree._Element, item: LineTotal) -> None:
        line = item.line
        element = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        document = _ram(element, "AssociatedDocumentLineDocument")
        _ram(document, "LineID", line.id)
        if line.note:
            _ram(_ram(document, "IncludedNote"), "Content", line.note)
        product = _ram(element, "SpecifiedTradeProduct")
        _opt(product, "SellerAssignedID", line.seller_item_id)
        _ram(product, "Name", line.name)
        _opt(product, "Description", line.description)
        price = _ram(_ram(element, "SpecifiedLineTradeAgreement"), "NetPriceProductTradePrice")
        _ram(price, "ChargeAmount", decimal(line.net_price))
        if line.price_base_quantity != 1:
            _ram(price, "BasisQuantity", decimal(line.price_base_quantity), unitCode=line.unit_code)
        _ram(_ram(element, "SpecifiedLineTradeDelivery"), "BilledQuantity", decimal(line.quantity), unitCode=line.unit_code)
        settlement = _ram(element, "SpecifiedLineTradeSettlement")
        self.tax(settlement, "ApplicableTradeTax", line.vat)
        self.period(settlement, line.period)
        for adjustment in item.allowances_charges:
            self.allowance_charge(settlement, adjustment)
        _ram(_ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation"), "LineTotalAmount", self.money(item.net_amount))

    def address(self, parent: etree._Element, address: Address) -> None:
        element = _ram(parent, "PostalTradeAddress")
        _opt(element, "PostcodeCode", address.postcode)
        for name, text in zip(("LineOne", "LineTwo", "LineThree"), address.lines):
            _opt(element, name, text)
        _opt(element, "CityName", address.city)
        _ram(element, "CountryID", address.country)
        _opt(element, "CountrySubDivisionName", address.subdivision)

    def party(self, parent: etree._Element, name: str, party: Party, *, seller: bool) -> None:
        element = _ram(parent, name)
        _ram(element, "Name", party.name)
        if party.legal_registration or party.trading_name:
            legal = _ram(element, "SpecifiedLegalOrganization")
            if party.legal_registration:
                reg = party.legal_registration
                _ram(legal, "ID", reg.identifier, schemeID=reg.scheme)
            _opt(legal, "TradingBusinessName", party.trading_name)
        contact = party.contact
        if contact and (contact.name or contact.phone or contact.email):
            element_contact = _ram(element, "DefinedTradeContact")
            _opt(element_contact, "PersonName", contact.name)
            if contact.phone:
                _ram(_ram(element_contact, "TelephoneUniversalCommunication"), "CompleteNumber", contact.phone)
            if contact.email:
                _ram(_ram(element_contact, "EmailURIUniversalCommunication"), "URIID", contact.email)
        self.address(element, party.address)
        if party.electronic_address:
            endpoint = party.electronic_address
            _ram(_ram(element, "URIUniversalCommunication"), "URIID", endpoint.identifier, schemeID=endpoint.scheme)
        if party.vat_id and not self.omit_vat_ids:
            _ram(_ram(element, "SpecifiedTaxRegistration"), "ID", party.vat_id, schemeID="VA")
        if seller and party.tax_registration_id:
            _ram(_ram(element, "SpecifiedTaxRegistration"), "ID", party.tax_registration_id, schemeID="FC")

    def agreement(self, element: etree._Element) -> None:
        inv = self.invoice
        _opt(element, "BuyerReference", inv.buyer_reference)
        self.party(element, "SellerTradeParty", inv.seller, seller=True)
        self.party(element, "BuyerTradeParty", inv.buyer, seller=False)
        if inv.purchase_order:
            _ram(_ram(element, "BuyerOrderReferencedDocument"), "IssuerAssignedID", inv.purchase_order)

    def delivery(self, element: etree._Element) -> None:
        delivery = self.invoice.delivery
        if delivery is None:
            return
        if delivery.name or delivery.address:
            ship_to = _ram(element, "ShipToTradeParty")
            _opt(ship_to, "Name", delivery.name)
            if delivery.address:
                self.address(ship_to, delivery.address)
        if delivery.date:
            _date(_ram(element, "ActualDeliverySupplyChainEvent"), "OccurrenceDateTime", delivery.date)

    def settlement(self, element: etree._Element) -> None:
        inv, t = self.invoice, self.totals
        means = inv.payment_means
        if means is not None:
            _opt(element, "PaymentReference", means.remittance_info)
        _ram(element, "InvoiceCurrencyCode", self.currency)
        if means is not None:
            payment = _ram(element, "SpecifiedTradeSettlementPaymentMeans")
            _ram(payment, "TypeCode", means.code)
            account = _ram(payment, "PayeePartyCreditorFinancialAccount")
            is_iban = means.code == "58" or iban_is_valid(means.account_id or "")
            # D16B order: IBANID, AccountName, ProprietaryID.
            if is_iban:
                _ram(account, "IBANID", means.account_id)
            _opt(account, "AccountName", means.account_name)
            if not is_iban:
                _ram(account, "ProprietaryID", means.account_id)
            if means.bic:
                _ram(_ram(payment, "PayeeSpecifiedCreditorFinancialInstitution"), "BICID", means.bic)
        for entry in t.breakdown:
            tax = _ram(element, "ApplicableTradeTax")
            _ram(tax, "CalculatedAmount", self.money(entry.tax_amount))
            _ram(tax, "TypeCode", "VAT")
            _opt(tax, "ExemptionReason", entry.exemption_reason)
            _ram(tax, "BasisAmount", self.money(entry.taxable_amount))
            _ram(tax, "CategoryCode", entry.category)
            _opt(tax, "ExemptionReasonCode", entry.exemption_code)
            rate = entry.rate if entry.rate is not None else self.rate_for_o
            if rate is not None:
                _ram(tax, "RateApplicablePercent", decimal(rate))
        self.period(element, inv.period)
        for item in t.allowances_charges:
            self.allowance_charge(element, item)
        if inv.payment_terms or inv.due_date:
            terms = _ram(element, "SpecifiedTradePaymentTerms")
            _opt(terms, "Description", inv.payment_terms)
            if inv.due_date:
                _date(terms, "DueDateDateTime", inv.due_date)
        summation = _ram(element, "SpecifiedTradeSettlementHeaderMonetarySummation")
        _ram(summation, "LineTotalAmount", self.money(t.line_total))
        if any(item.spec.charge for item in t.allowances_charges):
            _ram(summation, "ChargeTotalAmount", self.money(t.charge_total))
        if any(not item.spec.charge for item in t.allowances_charges):
            _ram(summation, "AllowanceTotalAmount", self.money(t.allowance_total))
        _ram(summation, "TaxBasisTotalAmount", self.money(t.tax_exclusive))
        _ram(summation, "TaxTotalAmount", self.money(t.tax_total), currencyID=self.currency)
        if t.rounding:
            _ram(summation, "RoundingAmount", self.money(t.rounding))
        _ram(summation, "GrandTotalAmount", self.money(t.tax_inclusive))
        if t.prepaid:
            _ram(summation, "TotalPrepaidAmount", self.money(t.prepaid))
        _ram(summation, "DuePayableAmount", self.money(t.payable))
        if inv.preceding_invoice:
            reference = _ram(element, "InvoiceReferencedDocument")
            _ram(reference, "IssuerAssignedID", inv.preceding_invoice.number)
            if inv.preceding_invoice.issue_date:
                _date(reference, "FormattedIssueDateTime", inv.preceding_invoice.issue_date, QDT)


def write_cii(invoice: Invoice, totals: Totals, profile: Profile) -> bytes:
    """Serialise `invoice` (with its computed `totals`) as a CII D16B CrossIndustryInvoice for `profile`."""
    if profile.syntax != "cii":
        raise ValueError(f"profile {profile.name} is not a CII profile")
    root = _Writer(invoice, totals, profile).document()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
