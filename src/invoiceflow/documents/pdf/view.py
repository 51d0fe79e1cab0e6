"""What the PDF template shows: every value of the invoice already formatted and labelled for one locale.

The template only arranges text; deciding what to print (which VAT notes, which optional terms, which
sign an allowance carries) happens here, in Python, where it can be tested and read. Values come from the
model and from `compute_totals`, the same figures the UBL/CII writers use, so the PDF and an embedded
Factur-X XML cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from invoiceflow.documents.model import PAYMENT_MEANS, Address, Invoice, Party
from invoiceflow.documents.pdf.branding import Branding
from invoiceflow.documents.pdf.labels import CATEGORIES, LABELS, VAT_NOTES, unit_name
from invoiceflow.documents.pdf.localization import Formatter
from invoiceflow.documents.requirements import iban_is_valid
from invoiceflow.documents.totals import AllowanceChargeAmount, Totals


@dataclass(frozen=True, slots=True)
class Row:
    """A labelled value; `strong` marks the rows a reader looks for first (total, amount due)."""

    label: str
    value: str
    strong: bool = False


@dataclass(frozen=True, slots=True)
class PartyView:
    name: str
    trading_name: str | None
    address: list[str]
    ids: list[Row]
    contact: list[str]


@dataclass(frozen=True, slots=True)
class LineView:
    position: str
    name: str
    details: list[str]
    adjustments: list[Row]
    quantity: str
    unit_price: str
    vat: str
    amount: str


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """Everything `templates/invoice.html` renders."""

    lang: str
    title: str
    number: str
    labels: dict[str, str]
    seller: PartyView
    buyer: PartyView
    facts: list[Row]
    correction: str | None
    deliver_to: list[str]
    notes: list[str]
    lines: list[LineView]
    adjustments: list[Row]
    totals: list[Row]
    breakdown: list[tuple[str, str, str, str]]
    vat_notes: list[str]
    payment: list[Row]
    footer: str
    accent: str
    logo: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def _iban(text: str) -> str:
    compact = text.replace(" ", "").upper()
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


class _Builder:
    def __init__(self, invoice: Invoice, totals: Totals, fmt: Formatter):
        self.invoice, self.totals, self.fmt = invoice, totals, fmt
        self.language = fmt.language
        self.t = LABELS[self.language]

    def address(self, party_name: str | None, address: Address) -> list[str]:
        lines = [party_name] if party_name else []
        lines += list(address.lines)
        city = " ".join(part for part in (address.postcode, address.city) if part)
        lines += [text for text in (city, address.subdivision) if text]
        lines.append(self.fmt.country(address.country))
        return lines

    def party(self, party: Party, *, seller: bool) -> PartyView:
        t = self.t
        ids = []
        if party.vat_id and not self.invoice.outside_scope_only():  # BR-O-02: no VAT ids outside the scope of VAT
            ids.append(Row(t["vat_id"], party.vat_id))
        if seller and party.tax_registration_id:
            ids.append(Row(t["tax_number"], party.tax_registration_id))
        if party.legal_registration:
            ids.append(Row(t["registration"], party.legal_registration.identifier))
        if party.electronic_address:
            ids.append(Row(t["electronic_address"], party.electronic_address.identifier))
        contact = []
        if party.contact:
            c = party.contact
            contact = [text for text in (c.name, c.phone and f"{t['phone']}: {c.phone}", c.email and f"{t['email']}: {c.email}") if text]
        trading = party.trading_name if party.trading_name and party.trading_name != party.name else None
        return PartyView(party.name, trading, self.address(None, party.address), ids, contact)

    def adjustment(self, item: AllowanceChargeAmount, *, with_vat: bool) -> Row:
        spec, fmt, t = item.spec, self.fmt, self.t
        text = t["charge"] if spec.charge else t["allowance"]
        reason = spec.reason or spec.reason_code
        if reason:
            text += f": {reason}"
        if spec.percent is not None and item.base_amount is not None:
            text += f" ({fmt.percent(spec.percent)} × {fmt.money(item.base_amount)})"
        if with_vat and spec.vat is not None:
            text += f", {t['vat']} {self.vat_cell(spec.vat.category, spec.vat.rate)}"
        return Row(text, fmt.money(item.amount if spec.charge else -item.amount))

    def vat_cell(self, category: str, rate: Decimal | None) -> str:
        """The rate, plus the category code where the rate alone does not say why no VAT is charged."""
        return self.fmt.percent(rate) if category == "S" else f"{self.fmt.percent(rate)} ({category})"

    def lines(self) -> list[LineView]:
        fmt, t, views = self.fmt, self.t, []
        for item in self.totals.lines:
            line = item.line
            details = [text for text in (line.description, line.note) if text]
            if line.period:
                details.append(f"{t['period']}: {fmt.period(line.period)}")
            if line.seller_item_id:
                details.append(f"{t['item_id']}: {line.seller_item_id}")
            unit = unit_name(line.unit_code, self.language)
            price = fmt.price(line.net_price)
            if line.price_base_quantity != 1:
                price += f" {t['per']} {fmt.quantity(line.price_base_quantity)} {unit}"
            views.append(LineView(
                position=line.id, name=line.name, details=details,
                adjustments=[self.adjustment(a, with_vat=False) for a in item.allowances_charges],
                quantity=f"{fmt.quantity(line.quantity)} {unit}", unit_price=price,
                vat=self.vat_cell(line.vat.category, line.vat.rate), amount=fmt.money(item.net_amount)))
        return views

    def facts(self) -> list[Row]:
        inv, fmt, t = self.invoice, self.fmt, self.t
        rows = [
            Row(t["credit_note_number"] if inv.is_credit_note else t["number"], inv.number, strong=True),
            Row(t["issue_date"], fmt.date(inv.issue_date)),
            Row(t["due_date"], fmt.date(inv.due_date)),
            Row(t["service_period"], fmt.period(inv.period)),
            Row(t["delivery_date"], fmt.date(inv.delivery.date if inv.delivery else None)),
            Row(t["buyer_reference"], inv.buyer_reference or ""),
            Row(t["purchase_order"], inv.purchase_order or ""),
        ]
        return [row for row in rows if row.value]

    def totals_rows(self) -> list[Row]:
        tot, money, t = self.totals, self.fmt.money, self.t
        has_allowances = any(not a.spec.charge for a in tot.allowances_charges)
        has_charges = any(a.spec.charge for a in tot.allowances_charges)
        rows = [Row(t["line_total"], money(tot.line_total))]
        if has_allowances:
            rows.append(Row(t["allowance_total"], money(-tot.allowance_total)))
        if has_charges:
            rows.append(Row(t["charge_total"], money(tot.charge_total)))
        rows += [Row(t["tax_exclusive"], money(tot.tax_exclusive)), Row(t["tax_total"], money(tot.tax_total)),
                 Row(t["tax_inclusive"], money(tot.tax_inclusive))]
        if tot.prepaid:
            rows.append(Row(t["prepaid"], money(-tot.prepaid)))
        if tot.rounding:
            rows.append(Row(t["rounding"], money(tot.rounding)))
        due_label = t["payable_credit"] if self.invoice.is_credit_note else t["payable"]
        rows.append(Row(due_label, money(tot.payable), strong=True))
        return rows

    def vat_notes(self) -> list[str]:
        notes, stated = [], {e.category for e in self.invoice.exemptions}
        for category in dict.fromkeys(entry.category for entry in self.totals.breakdown):
            note = VAT_NOTES[self.language].get(category)
            if note is None:
                continue
            code, reason = self.invoice.exemption_for(category)
            if category in stated and (reason or code):
                note += f" {self.t['reason']}: {' '.join(filter(None, (reason, code and f'({code})')))}"
            notes.append(note)
        return notes

    def payment(self) -> list[Row]:
        inv, t = self.invoice, self.t
        rows = [Row(t["payment_terms"], inv.payment_terms or "")]
        means = inv.payment_means
        if means is not None:
            name = {"58": t["sepa_credit_transfer"], "30": t["credit_transfer"]}.get(means.code, PAYMENT_MEANS.get(means.code, means.code))
            account = means.account_id or ""
            is_iban = iban_is_valid(account)
            rows += [Row(t["payment_means"], name), Row(t["account_holder"], means.account_name or ""),
                     Row(t["iban"] if is_iban else t["account"], _iban(account) if is_iban else account),
                     Row(t["bic"], means.bic or ""), Row(t["remittance"], means.remittance_info or "")]
        return [row for row in rows if row.value]


def build_view(invoice: Invoice, totals: Totals, fmt: Formatter, branding: Branding) -> InvoiceView:
    """The formatted, labelled invoice for the template."""
    b = _Builder(invoice, totals, fmt)
    t = b.t
    title = t["credit_note"] if invoice.is_credit_note else t["invoice"]
    correction = None
    if invoice.preceding_invoice:
        ref = invoice.preceding_invoice
        key = "corrects" if ref.issue_date else "corrects_undated"
        correction = t[key].format(number=ref.number, date=fmt.date(ref.issue_date))
    deliver_to = []
    if invoice.delivery and invoice.delivery.address:
        deliver_to = b.address(invoice.delivery.name, invoice.delivery.address)
    seller = invoice.seller
    registration = seller.legal_registration.identifier if seller.legal_registration else None
    footer = branding.footer_text or " · ".join(filter(None, (seller.name, registration)))
    return InvoiceView(
        lang=fmt.language, title=title, number=invoice.number, labels=t,
        seller=b.party(seller, seller=True), buyer=b.party(invoice.buyer, seller=False),
        facts=b.facts(), correction=correction, deliver_to=deliver_to, notes=list(invoice.notes),
        lines=b.lines(), adjustments=[b.adjustment(a, with_vat=True) for a in totals.allowances_charges],
        totals=b.totals_rows(),
        breakdown=[(f"{CATEGORIES[fmt.language][e.category]} ({e.category})", fmt.percent(e.rate),
                    fmt.money(e.taxable_amount), fmt.money(e.tax_amount)) for e in totals.breakdown],
        vat_notes=b.vat_notes(), payment=b.payment(), footer=footer, accent=branding.accent_color,
        logo=branding.logo_data_uri(),
        metadata={"title": f"{title} {invoice.number}", "author": seller.name,
                  "description": f"{title} {invoice.number}, {seller.name} → {invoice.buyer.name}"},
    )
