"""The tax step of the release pass: ask the tax engine for a draft's tax and store it on the document.

Run before the gates, so they see the tax the invoice will be issued with. For each line the engine decides
the treatment of the line's product (its `tax_code`) for this seller and buyer; tax is then rounded once per
(category, rate) for the whole document. What is stored: one `invoice_taxes` row per category and rate,
each line's category and rate, `tax_total`, and `total` = lines + tax.

- A blocked decision (a reverse charge without a valid VAT id, an unresolvable jurisdiction) stores no tax
  (`tax_status` "blocked"); the tax gate reports why and holds the invoice.
- An engine that cannot answer (`TaxUnavailable`) leaves the document with `tax_status` "pending": it is held
  (never issued with a guessed tax) and the next release pass asks again, releasing it when tax is known.

Discount lines without a product are taxed like the document's largest charge; prepaid credit applied is a
means of payment, not a price reduction, so it is outside the taxable amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from invoiceflow.gates.rules.tax_data import TAX_ID_TYPES
from invoiceflow.store.review_tables import invoice_taxes
from invoiceflow.store.tables import customers, invoice_lines, invoices, legal_entities, products
from invoiceflow.tax.engine import BuiltinTaxEngine, QuoteLine, QuoteRequest, TaxEngine, TaxUnavailable
from invoiceflow.tax.model import Buyer, Seller, Supply

CALCULATED, BLOCKED, PENDING = "calculated", "blocked", "pending"
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TaxOutcome:
    invoice_id: int
    status: str  # calculated | blocked | pending
    tax_total: Decimal = ZERO
    detail: str = ""


def apply_taxes(conn: Connection, tenant_id: int, invoice_id: int, engine: TaxEngine | None = None) -> TaxOutcome:
    """Quote and store the tax of one draft, held or validated document (in the caller's transaction)."""
    engine = engine or BuiltinTaxEngine()
    doc = conn.execute(select(invoices).where(invoices.c.tenant_id == tenant_id, invoices.c.id == invoice_id)
                       ).mappings().one()
    lines = conn.execute(select(invoice_lines.c.id, invoice_lines.c.line_type, invoice_lines.c.amount,
                                invoice_lines.c.product_code).where(invoice_lines.c.invoice_id == invoice_id)
                         .order_by(invoice_lines.c.position)).all()
    request = _request(conn, tenant_id, doc, lines)
    net = sum((line.amount for line in lines), ZERO)
    try:
        quote = engine.quote(request)
    except TaxUnavailable as exc:
        _store(conn, doc, [], net, PENDING)
        return TaxOutcome(invoice_id, PENDING, detail=str(exc))
    if quote.breakdown is None:
        _store(conn, doc, [], net, BLOCKED)
        return TaxOutcome(invoice_id, BLOCKED, detail="; ".join(str(p) for p in quote.problems()))
    by_line = {line_id: d for line_id, d in zip(quote.line_ids, quote.decisions)}
    for line in lines:
        decision = by_line.get(str(line.id))
        conn.execute(update(invoice_lines).where(invoice_lines.c.id == line.id).values(
            tax_category=decision.category if decision else None, tax_rate=decision.rate if decision else None))
    rows = [{"tenant_id": tenant_id, "invoice_id": invoice_id, "category": s.category, "rate": s.rate,
             "jurisdiction": _jurisdiction(quote, s.category, s.rate), "taxable_amount": s.taxable_amount,
             "tax_amount": s.tax_amount, "exemption_code": s.exemption_code, "exemption_reason": s.exemption_reason}
            for s in quote.breakdown.subtotals]
    _store(conn, doc, rows, net, CALCULATED)
    return TaxOutcome(invoice_id, CALCULATED, quote.breakdown.tax_total)


def _store(conn: Connection, doc: Any, rows: list[dict], net: Decimal, status: str) -> None:
    conn.execute(delete(invoice_taxes).where(invoice_taxes.c.invoice_id == doc["id"]))
    if rows:
        conn.execute(insert(invoice_taxes), rows)
    tax = sum((row["tax_amount"] for row in rows), ZERO)
    if status != CALCULATED:
        conn.execute(update(invoice_lines).where(invoice_lines.c.invoice_id == doc["id"]).values(
            tax_category=None, tax_rate=None))
    conn.execute(update(invoices).where(invoices.c.id == doc["id"]).values(
        tax_total=tax, total=net + tax, tax_status=status))


def _request(conn: Connection, tenant_id: int, doc: Any, lines: list) -> QuoteRequest:
    entity = conn.execute(select(legal_entities).where(legal_entities.c.id == doc["legal_entity_id"])).mappings().one()
    customer = conn.execute(select(customers).where(customers.c.id == doc["customer_id"])).mappings().one()
    codes = dict(conn.execute(select(products.c.code, products.c.tax_code).where(products.c.tenant_id == tenant_id)
                              ).all())
    address = customer["billing_address"] or {}
    tax_ids = [(str(t.get("type", "")).lower(), str(t.get("value", ""))) for t in customer["tax_ids"] or []]
    buyer = Buyer(country=str(address.get("country") or ""), region=address.get("region") or None,
                  tax_id=next((v for k, v in tax_ids if k in TAX_ID_TYPES), None),
                  is_business=(customer["segment"] or "").lower() != "consumer", exempt=bool(customer["tax_exempt"]),
                  certificate=next((v for k, v in tax_ids if k == "exemption_certificate"), None))
    seller = Seller(country=entity["country"] or "", tax_id=entity["tax_id"], legal_entity=entity["code"])
    charges = [line for line in lines if line.product_code and line.line_type != "prepaid_credit"]
    main = max(charges, key=lambda line: line.amount).product_code if charges else None
    quote_lines = []
    for line in lines:
        if line.line_type == "prepaid_credit":
            continue
        product = line.product_code or main
        quote_lines.append(QuoteLine(str(line.id), line.amount, Supply(tax_code=codes.get(product, "standard"))))
    return QuoteRequest(seller, buyer, doc["billing_date"], doc["currency"], tuple(quote_lines),
                        reference=f"invoice:{doc['id']}")


def _jurisdiction(quote, category: str, rate: Decimal) -> str:
    return next((d.jurisdiction for d in quote.decisions if d.category == category and d.rate == rate), "")
