"""Loading a batch of subscriptions and their billing history into plain terms (the bill run's read side)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, select

from invoiceflow.billing.crediting import BilledLine, Creditable, EarlierCredit, creditable_lines
from invoiceflow.billing.drafts import CREDIT_NOTE
from invoiceflow.billing.fees import BilledDays
from invoiceflow.billing.terms import ChargeTerms, DiscountTerms, SubscriptionTerms, VersionTerms, effective_end
from invoiceflow.lifecycle.states import VOID
from invoiceflow.money import to_decimal
from invoiceflow.rating.adjustments import Discount
from invoiceflow.rating.prices import parse_price
from invoiceflow.store.tables import (
    contract_versions,
    credit_applications,
    customers,
    invoice_lines,
    invoices,
    meters,
    plan_versions,
    plans,
    prepaid_credits,
    products,
    subscriptions,
)


class CatalogCache:
    """Products, meters and parsed contract versions, shared by every batch of one run."""

    def __init__(self, conn: Connection, tenant_id: int):
        self.tenant_id = tenant_id
        self.products = {r.code: r.name for r in conn.execute(
            select(products.c.code, products.c.name).where(products.c.tenant_id == tenant_id))}
        self.meters = {r.code: r for r in conn.execute(
            select(meters.c.id, meters.c.code, meters.c.aggregation).where(meters.c.tenant_id == tenant_id))}
        self.versions: dict[int, VersionTerms] = {}
        self.charges: dict[tuple, tuple[ChargeTerms, ...]] = {}

    def version(self, row: Any, currency: str) -> VersionTerms:
        cached = self.versions.get(row.id)
        if cached is None:
            cached = self.versions[row.id] = self._build(row, currency)
        return cached

    def _build(self, row: Any, currency: str) -> VersionTerms:
        terms = row.terms
        key = (row.plan_version_id, currency, json.dumps(terms.get("price_overrides"), sort_keys=True),
               json.dumps(terms.get("quantity_overrides"), sort_keys=True))
        charges = self.charges.get(key)
        if charges is None:  # contracts on the same plan and overrides share one parsed price list
            charges = self.charges[key] = self._charges(row, terms, currency)
        discounts = tuple(
            DiscountTerms(d["code"], Discount(d["kind"], to_decimal(d["value"])), d.get("duration", "forever"),
                          d.get("periods"))
            for d in terms.get("discounts") or []
        )
        return VersionTerms(
            id=row.id, number=row.version, effective_from=row.effective_from, plan_version_id=row.plan_version_id,
            plan_code=row.plan_code, plan_version=row.plan_version, charges=charges,
            minimum_commitment=to_decimal(terms.get("minimum_commitment", "0")), discounts=discounts,
        )

    def _charges(self, row: Any, terms: dict, currency: str) -> tuple[ChargeTerms, ...]:
        overrides = terms.get("price_overrides") or {}
        quantities = terms.get("quantity_overrides") or {}
        charges = []
        for spec in row.charges:
            record = f"plan version {row.plan_version_id}.{spec['code']}"
            price_doc = overrides.get(spec["code"], spec["price"])
            meter = self.meters.get(spec["meter"]) if spec.get("meter") else None
            charges.append(ChargeTerms(
                code=spec["code"], product_code=spec["product"],
                product_name=spec.get("description") or self.products.get(spec["product"], spec["product"]),
                price_doc=price_doc, price=parse_price(price_doc, record=record, currency=currency),
                timing="arrears" if meter else spec.get("timing", "advance"),
                quantity=to_decimal(quantities.get(spec["code"], spec.get("quantity", 1)), record=record, field="quantity"),
                meter_code=spec.get("meter"), meter_id=meter.id if meter else None,
                aggregation=meter.aggregation if meter else None,
            ))
        return tuple(charges)


def load_batch(
    conn: Connection, cache: CatalogCache, after_id: int, limit: int, *, lock: bool
) -> list[SubscriptionTerms]:
    """The next `limit` subscriptions after `after_id`, locked FOR UPDATE on PostgreSQL (per-account locks)."""
    query = (
        select(subscriptions, customers.c.timezone, customers.c.currency, customers.c.legal_entity_id)
        .join(customers, customers.c.id == subscriptions.c.customer_id)
        .where(subscriptions.c.tenant_id == cache.tenant_id, subscriptions.c.id > after_id)
        .order_by(subscriptions.c.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(of=subscriptions)
    rows = conn.execute(query).all()
    if not rows:
        return []
    contract_ids = sorted({r.contract_id for r in rows})
    versions: dict[int, list[Any]] = defaultdict(list)
    version_rows = conn.execute(
        select(contract_versions, plan_versions.c.version.label("plan_version"), plan_versions.c.charges,
               plans.c.code.label("plan_code"))
        .join(plan_versions, plan_versions.c.id == contract_versions.c.plan_version_id)
        .join(plans, plans.c.id == plan_versions.c.plan_id)
        .where(contract_versions.c.contract_id.in_(contract_ids))
        .order_by(contract_versions.c.effective_from)
    )
    for v in version_rows:
        versions[v.contract_id].append(v)
    batch = []
    for r in rows:
        batch.append(SubscriptionTerms(
            id=r.id, code=r.code, customer_id=r.customer_id, contract_id=r.contract_id,
            legal_entity_id=r.legal_entity_id, currency=r.currency, timezone=r.timezone, interval=r.interval,
            anchor=r.anchor, start=r.start_date,
            end=effective_end(r.end_date, r.cancel_mode, r.start_date, r.interval, r.anchor),
            trial_end=r.trial_end,
            versions=tuple(cache.version(v, r.currency) for v in versions[r.contract_id]),
        ))
    return batch


def billed_points(conn: Connection, subscription_ids: list[int]) -> dict[int, set[date]]:
    result: dict[int, set[date]] = defaultdict(set)
    for sub_id, day in conn.execute(
        select(invoices.c.subscription_id, invoices.c.billing_date).where(invoices.c.subscription_id.in_(subscription_ids))
    ):
        result[sub_id].add(day)
    return result


def billed_advance_days(conn: Connection, subscription_ids: list[int], since: date) -> dict[int, BilledDays]:
    """Advance fees already billed (minus credited) per subscription, for service days from `since` on."""
    result: dict[int, BilledDays] = defaultdict(BilledDays)
    rows = conn.execute(
        select(invoices.c.subscription_id, invoices.c.id, invoices.c.document_type, invoice_lines.c.id.label("line_id"),
               invoice_lines.c.charge_code, invoice_lines.c.contract_version_id, invoice_lines.c.service_start,
               invoice_lines.c.service_end)
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .where(and_(invoices.c.subscription_id.in_(subscription_ids),
                    invoice_lines.c.line_type.in_(("fee_advance", "fee_advance_credit")),
                    invoice_lines.c.service_end > since))
        .order_by(invoices.c.id)
    )
    for r in rows:
        key = (r.charge_code, r.contract_version_id)
        if r.document_type == "invoice":
            result[r.subscription_id].add(key, r.service_start, r.service_end, r.id, r.line_id)
        else:
            result[r.subscription_id].remove(key, r.service_start, r.service_end)
    return result


def creditable_advance_lines(conn: Connection, invoice_ids: set[int]) -> dict[int, Creditable]:
    """What remains creditable of every charge line of `invoice_ids`, by line id: the facts that cap the bill
    run's credits of unused days. Three queries per batch: the invoices, their lines, and the lines of the
    credit notes that are not void against them (raised by hand or by a bill run).

    A credit note raised by hand inserts a row referencing the subscription, so it waits for the batch's lock
    on the subscription row (PostgreSQL) or the write lock (SQLite): none can slip in between this read and
    the batch's writes.
    """
    ids = sorted(invoice_ids)
    if not ids:
        return {}
    currency = dict(conn.execute(select(invoices.c.id, invoices.c.currency).where(invoices.c.id.in_(ids))).all())
    lines: dict[int, list[BilledLine]] = defaultdict(list)
    for r in conn.execute(select(*_LINE_FACTS).where(invoice_lines.c.invoice_id.in_(ids))
                          .order_by(invoice_lines.c.invoice_id, invoice_lines.c.position)).mappings():
        lines[r["invoice_id"]].append(billed_line(r))
    earlier = earlier_credits(conn, ids)
    return {c.line.id: c for invoice_id in ids
            for c in creditable_lines(lines[invoice_id], earlier[invoice_id], currency[invoice_id])}


def earlier_credits(conn: Connection, invoice_ids: list[int]) -> dict[int, list[EarlierCredit]]:
    """Per invoice, the lines of the credit notes that are not void against it (raised by hand or by a bill
    run): what has already been given back of its lines."""
    earlier: dict[int, list[EarlierCredit]] = defaultdict(list)
    for r in conn.execute(
        select(*_LINE_FACTS, invoice_lines.c.credits_line_id, invoices.c.corrects_invoice_id, invoices.c.number)
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .where(invoices.c.corrects_invoice_id.in_(invoice_ids), invoices.c.document_type == CREDIT_NOTE,
               invoices.c.status != VOID)
        .order_by(invoices.c.id, invoice_lines.c.position)
    ).mappings():
        earlier[r["corrects_invoice_id"]].append(_earlier_credit(r))
    return earlier


_LINE_FACTS = (invoice_lines.c.id, invoice_lines.c.invoice_id, invoice_lines.c.position, invoice_lines.c.line_type,
               invoice_lines.c.description, invoice_lines.c.amount, invoice_lines.c.quantity,
               invoice_lines.c.charge_code, invoice_lines.c.contract_version_id, invoice_lines.c.service_start,
               invoice_lines.c.service_end, invoice_lines.c.trace)


def billed_line(r: Mapping[str, Any]) -> BilledLine:
    """The crediting facts of a stored invoice line (a row mapping with at least `_LINE_FACTS`)."""
    until = (r["trace"] or {}).get("applies_before")
    return BilledLine(
        id=r["id"], position=r["position"], line_type=r["line_type"], description=r["description"],
        amount=r["amount"], quantity=r["quantity"], charge_code=r["charge_code"],
        contract_version_id=r["contract_version_id"], service_start=r["service_start"],
        service_end=r["service_end"], applies_before=date.fromisoformat(until) if isinstance(until, str) else None)


def _earlier_credit(r: Mapping[str, Any]) -> EarlierCredit:
    """A line of an earlier credit note; it counted a quantity only if it named the line it credits."""
    return EarlierCredit(
        amount=r["amount"], credits_line_id=r["credits_line_id"],
        quantity=r["quantity"] if r["credits_line_id"] is not None else None, charge_code=r["charge_code"],
        contract_version_id=r["contract_version_id"], service_start=r["service_start"],
        service_end=r["service_end"], document=r["number"] or f"credit note {r['invoice_id']}")


class CreditBalances:
    """Prepaid credit per customer: grants available by date, minus what invoices already drew down."""

    def __init__(self, conn: Connection, customer_ids: list[int]):
        self.grants: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
        self.used: dict[int, Decimal] = defaultdict(Decimal)
        for r in conn.execute(select(prepaid_credits.c.customer_id, prepaid_credits.c.granted_on,
                                     prepaid_credits.c.amount).where(prepaid_credits.c.customer_id.in_(customer_ids))):
            self.grants[r.customer_id].append((r.granted_on, r.amount))
        for r in conn.execute(select(credit_applications.c.customer_id, credit_applications.c.amount)
                              .where(credit_applications.c.customer_id.in_(customer_ids))):
            self.used[r.customer_id] += r.amount

    def available(self, customer_id: int, on: date) -> Decimal:
        granted = sum((amount for day, amount in self.grants.get(customer_id, ()) if day <= on), Decimal(0))
        return max(granted - self.used[customer_id], Decimal(0))

    def draw(self, customer_id: int, amount: Decimal) -> None:
        self.used[customer_id] += amount
