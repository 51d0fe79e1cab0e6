"""Gathering the facts the gates look at, for a batch of invoices, with few queries.

The adapter side of the gates: it reads invoices, their lines and tax rows, customers, legal entities,
contract versions, GL mappings, usage counts and parked unmapped usage, and hands plain `InvoiceFacts` to
the pure rules. Usage periods are the invoice's service period in the customer's time zone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, select

from invoiceflow.gates.model import (
    ContractVersionFacts,
    CustomerFacts,
    InvoiceFacts,
    LegalEntityFacts,
    LineFacts,
    MeterUsageFacts,
    OtherInvoiceFacts,
    TaxRowFacts,
    UnmappedAccountFacts,
)
from invoiceflow.money import to_decimal
from invoiceflow.store.review_tables import gl_accounts, gl_mappings, invoice_taxes, unmapped_usage
from invoiceflow.store.tables import (
    contract_versions,
    contracts,
    customer_accounts,
    customers,
    invoice_lines,
    invoices,
    legal_entities,
    meters,
    plan_versions,
    products,
    subscriptions,
    usage_events,
)

FEES = ("fee_advance", "fee_arrears")
_STEM = re.compile(r"[-_:.][^-_:.]*$")


class FactLoader:
    """Reads facts for invoices of one tenant; reference data is read once per loader."""

    def __init__(self, conn: Connection, tenant_id: int):
        self.conn, self.tenant_id = conn, tenant_id
        rows = conn.execute(select(meters.c.code, meters.c.id, meters.c.aggregation).where(
            meters.c.tenant_id == tenant_id)).all()
        self.meter_ids = {r.code: r.id for r in rows}
        self.aggregations = {r.code: r.aggregation for r in rows}
        self.tax_codes = {r.code: r.tax_code for r in conn.execute(
            select(products.c.code, products.c.tax_code).where(products.c.tenant_id == tenant_id))}
        self.entities = {r.id: r for r in conn.execute(
            select(legal_entities).where(legal_entities.c.tenant_id == tenant_id))}
        self.gl = self._gl_roles()
        self._feeds: dict[tuple, int] = {}
        self._attribution: dict[str, tuple[int, str]] | None = None

    def facts(self, invoice_ids: Iterable[int]) -> list[InvoiceFacts]:
        ids = list(invoice_ids)
        if not ids:
            return []
        rows = self.conn.execute(
            select(invoices, subscriptions.c.code.label("subscription_code"), contracts.c.code.label("contract_code"),
                   contracts.c.po_number)
            .join(subscriptions, subscriptions.c.id == invoices.c.subscription_id)
            .join(contracts, contracts.c.id == invoices.c.contract_id)
            .where(invoices.c.tenant_id == self.tenant_id, invoices.c.id.in_(ids))).mappings().all()
        lines = self._lines(ids)
        taxes = self._taxes(ids)
        customer_rows = self._customers({r["customer_id"] for r in rows})
        versions = self._versions({r["contract_id"] for r in rows})
        others = self._others({r["customer_id"] for r in rows})
        out = []
        for row in rows:
            customer_row = customer_rows[row["customer_id"]]
            customer = self._customer_facts(customer_row)
            invoice_lines_ = tuple(lines.get(row["id"], ()))
            contract_versions_ = versions.get(row["contract_id"], ())
            facts = InvoiceFacts(
                id=row["id"], document_type=row["document_type"], status=row["status"], currency=row["currency"],
                billing_date=row["billing_date"], period_start=row["period_start"], period_end=row["period_end"],
                subtotal=row["subtotal"], discount_total=row["discount_total"],
                credits_applied=row["credits_applied"], tax_total=row["tax_total"], total=row["total"],
                subscription_code=row["subscription_code"], subscription_id=row["subscription_id"],
                contract_code=row["contract_code"], po_number=row["po_number"], customer=customer,
                legal_entity=self._entity_facts(row["legal_entity_id"]), lines=invoice_lines_,
                contract_versions=contract_versions_, taxes=tuple(taxes.get(row["id"], ())),
                usage=self._usage(row, customer_row, invoice_lines_, contract_versions_, others),
                unmapped=self._unmapped(row, customer_row, contract_versions_),
                others=tuple(o for o in others.get(row["customer_id"], ()) if o.id != row["id"]),
                product_tax_codes=self.tax_codes, gl_roles=self.gl.get(row["legal_entity_id"], frozenset()),
                tax_status=row["tax_status"])
            out.append(facts)
        return out

    # -- reference data --------------------------------------------------------------------------------------
    def _gl_roles(self) -> dict[int, frozenset[tuple[str, str]]]:
        known = {(r.legal_entity_id, r.code) for r in self.conn.execute(
            select(gl_accounts.c.legal_entity_id, gl_accounts.c.code).where(gl_accounts.c.tenant_id == self.tenant_id))}
        roles: dict[int, set[tuple[str, str]]] = defaultdict(set)
        for r in self.conn.execute(select(gl_mappings).where(gl_mappings.c.tenant_id == self.tenant_id)):
            if (r.legal_entity_id, r.account_code) in known:
                roles[r.legal_entity_id].add((r.role, r.product_code or ""))
        return {entity: frozenset(pairs) for entity, pairs in roles.items()}

    def _entity_facts(self, entity_id: int) -> LegalEntityFacts:
        e = self.entities[entity_id]
        return LegalEntityFacts(e.code, e.name, e.country, e.currency, e.tax_id, e.address)

    def _customers(self, ids: set[int]) -> dict[int, Any]:
        rows = {r["id"]: dict(r) for r in self.conn.execute(
            select(customers).where(customers.c.id.in_(ids))).mappings()}
        for r in rows.values():
            r["account_ids"] = []
        for external_id, customer_id in self.conn.execute(select(
                customer_accounts.c.external_id, customer_accounts.c.customer_id).where(
                customer_accounts.c.customer_id.in_(ids)).order_by(customer_accounts.c.external_id)):
            rows[customer_id]["account_ids"].append(external_id)
        return rows

    @staticmethod
    def _customer_facts(r: dict) -> CustomerFacts:
        tax_ids = tuple((str(t.get("type", "")), str(t.get("value", ""))) for t in (r["tax_ids"] or []))
        return CustomerFacts(code=r["code"], name=r["name"], email=r["email"], billing_address=r["billing_address"],
                             currency=r["currency"], tax_ids=tax_ids, segment=r["segment"],
                             po_required=bool(r["po_required"]), tax_exempt=bool(r["tax_exempt"]),
                             account_ids=tuple(r["account_ids"]))

    def _lines(self, ids: list[int]) -> dict[int, list[LineFacts]]:
        out: dict[int, list[LineFacts]] = defaultdict(list)
        for r in self.conn.execute(select(invoice_lines).where(invoice_lines.c.invoice_id.in_(ids))
                                   .order_by(invoice_lines.c.invoice_id, invoice_lines.c.position)):
            out[r.invoice_id].append(LineFacts(
                position=r.position, line_type=r.line_type, description=r.description, amount=r.amount,
                precise_amount=r.precise_amount, product_code=r.product_code, meter_code=r.meter_code,
                quantity=r.quantity, service_start=r.service_start, service_end=r.service_end,
                contract_version_id=r.contract_version_id, plan_version_id=r.plan_version_id))
        return out

    def _taxes(self, ids: list[int]) -> dict[int, list[TaxRowFacts]]:
        out: dict[int, list[TaxRowFacts]] = defaultdict(list)
        for r in self.conn.execute(select(invoice_taxes).where(invoice_taxes.c.invoice_id.in_(ids))):
            out[r.invoice_id].append(TaxRowFacts(r.category, r.rate, r.taxable_amount, r.tax_amount))
        return out

    def _versions(self, contract_ids: set[int]) -> dict[int, tuple[ContractVersionFacts, ...]]:
        out: dict[int, list[ContractVersionFacts]] = defaultdict(list)
        rows = self.conn.execute(
            select(contract_versions, plan_versions.c.charges)
            .join(plan_versions, plan_versions.c.id == contract_versions.c.plan_version_id)
            .where(contract_versions.c.contract_id.in_(contract_ids))
            .order_by(contract_versions.c.contract_id, contract_versions.c.effective_from)).mappings()
        for r in rows:
            terms = r["terms"] or {}
            ceiling = terms.get("ceiling")
            entitled = terms.get("entitlements")
            out[r["contract_id"]].append(ContractVersionFacts(
                id=r["id"], version=r["version"], effective_from=r["effective_from"],
                effective_to=date.fromisoformat(terms["effective_to"]) if terms.get("effective_to") else None,
                plan_version_id=r["plan_version_id"],
                meters=frozenset(c["meter"] for c in r["charges"] if c.get("meter")),
                entitled_meters=frozenset(entitled) if entitled is not None else None,
                ceiling=to_decimal(ceiling) if ceiling is not None else None,
                non_standard=any(terms.get(k) for k in (
                    "price_overrides", "quantity_overrides", "discounts", "minimum_commitment"))))
        return {k: tuple(v) for k, v in out.items()}

    def _others(self, customer_ids: set[int]) -> dict[int, list[OtherInvoiceFacts]]:
        rows = self.conn.execute(
            select(invoices.c.id, invoices.c.customer_id, invoices.c.document_type, invoices.c.status,
                   invoices.c.subscription_id, invoices.c.period_start, invoices.c.period_end, invoices.c.total)
            .where(invoices.c.customer_id.in_(customer_ids), invoices.c.status != "void")).all()
        spans: dict[int, list[tuple]] = defaultdict(list)
        for r in self.conn.execute(
                select(invoice_lines.c.invoice_id, invoice_lines.c.product_code, invoice_lines.c.contract_version_id,
                       invoice_lines.c.service_start, invoice_lines.c.service_end)
                .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
                .where(invoices.c.customer_id.in_(customer_ids), invoices.c.status != "void",
                       invoice_lines.c.line_type.in_(FEES), invoice_lines.c.amount > 0,
                       invoice_lines.c.service_start.is_not(None), invoice_lines.c.service_end.is_not(None))):
            spans[r.invoice_id].append((r.product_code or "", r.contract_version_id, r.service_start, r.service_end))
        out: dict[int, list[OtherInvoiceFacts]] = defaultdict(list)
        for r in rows:
            out[r.customer_id].append(OtherInvoiceFacts(
                r.id, r.document_type, r.status, r.subscription_id, r.period_start, r.period_end, r.total,
                tuple(spans.get(r.id, ()))))
        return out

    # -- usage -----------------------------------------------------------------------------------------------
    def _window(self, row: Any, customer: dict) -> tuple[int, int] | None:
        if row["period_start"] is None or row["period_end"] is None:
            return None
        zone = ZoneInfo(customer["timezone"] or "UTC")
        start = datetime.combine(row["period_start"], time(), zone)
        end = datetime.combine(row["period_end"], time(), zone)
        return int(start.timestamp() * 1_000_000), int(end.timestamp() * 1_000_000)

    def _usage(self, row: Any, customer: dict, lines: tuple[LineFacts, ...],
               versions: tuple[ContractVersionFacts, ...], others: dict) -> tuple[MeterUsageFacts, ...]:
        window = self._window(row, customer)
        if window is None or row["document_type"] != "invoice":
            return ()
        expected = sorted({m for v in versions for m in v.meters
                           if v.effective_from < row["period_end"]} & set(self.meter_ids))
        if not expected:
            return ()
        counts = {r.meter_id: (r.events, r.late or 0) for r in self.conn.execute(
            select(usage_events.c.meter_id, func.count().label("events"), func.sum(usage_events.c.late).label("late"))
            .where(usage_events.c.tenant_id == self.tenant_id, usage_events.c.customer_id == row["customer_id"],
                   usage_events.c.ts >= window[0], usage_events.c.ts < window[1])
            .group_by(usage_events.c.meter_id))}
        trailing = self._trailing(row, expected)
        out = []
        for meter in expected:
            events, late = counts.get(self.meter_ids[meter], (0, 0))
            billed = sum((l.quantity or Decimal(0) for l in lines if l.line_type == "usage" and l.meter_code == meter),
                         Decimal(0))
            out.append(MeterUsageFacts(meter, int(events), int(late), trailing.get(meter, ()), billed,
                                       self._feed(meter, window) if events == 0 else int(events),
                                       self.aggregations[meter]))
        return tuple(out)

    def _trailing(self, row: Any, meter_codes: list[str]) -> dict[str, tuple[Decimal, ...]]:
        """Billed quantity per meter on each earlier invoice of the subscription, oldest first."""
        rows = self.conn.execute(
            select(invoices.c.billing_date, invoice_lines.c.meter_code, invoice_lines.c.quantity)
            .join(invoice_lines, invoice_lines.c.invoice_id == invoices.c.id)
            .where(invoices.c.subscription_id == row["subscription_id"], invoices.c.document_type == "invoice",
                   invoices.c.status != "void", invoices.c.billing_date < row["billing_date"],
                   invoice_lines.c.line_type == "usage", invoice_lines.c.meter_code.in_(meter_codes))
            .order_by(invoices.c.billing_date)).all()
        totals: dict[str, dict[date, Decimal]] = defaultdict(dict)
        for billed_on, meter, quantity in rows:  # summed here: SQL SUM over exact decimals is not exact on SQLite
            totals[meter][billed_on] = totals[meter].get(billed_on, Decimal(0)) + (quantity or Decimal(0))
        out = {meter: list(by_date.values()) for meter, by_date in totals.items()}
        return {k: tuple(v) for k, v in out.items()}

    def _feed(self, meter: str, window: tuple[int, int]) -> int:
        key = (meter, window)
        if key not in self._feeds:
            self._feeds[key] = int(self.conn.execute(select(func.count()).where(
                usage_events.c.tenant_id == self.tenant_id, usage_events.c.meter_id == self.meter_ids[meter],
                usage_events.c.ts >= window[0], usage_events.c.ts < window[1])).scalar() or 0)
        return self._feeds[key]

    # -- unmapped account ids ----------------------------------------------------------------------------
    def _unmapped(self, row: Any, customer: dict, versions: tuple[ContractVersionFacts, ...]
                  ) -> tuple[UnmappedAccountFacts, ...]:
        window = self._window(row, customer)
        if window is None or row["document_type"] != "invoice":
            return ()
        attribution = self._attributions()
        mine = [account for account, (customer_id, _) in attribution.items() if customer_id == row["customer_id"]]
        if not mine:
            return ()
        meter_ids = [self.meter_ids[m] for v in versions for m in v.meters if m in self.meter_ids]
        counts = self.conn.execute(
            select(unmapped_usage.c.external_account_id, func.count())
            .where(unmapped_usage.c.tenant_id == self.tenant_id, unmapped_usage.c.external_account_id.in_(mine),
                   unmapped_usage.c.attached_at.is_(None), unmapped_usage.c.meter_id.in_(meter_ids),
                   and_(unmapped_usage.c.ts >= window[0], unmapped_usage.c.ts < window[1]))
            .group_by(unmapped_usage.c.external_account_id)).all()
        return tuple(UnmappedAccountFacts(account, int(n), attribution[account][1]) for account, n in counts)

    def _attributions(self) -> dict[str, tuple[int, str]]:
        """Unmapped account id -> (customer id, what it resembles), for ids that point at one customer."""
        if self._attribution is None:
            parked = list(self.conn.execute(select(unmapped_usage.c.external_account_id).where(
                unmapped_usage.c.tenant_id == self.tenant_id, unmapped_usage.c.attached_at.is_(None)).distinct()
            ).scalars())
            self._attribution = attribute_accounts(parked, self._known_accounts()) if parked else {}
        return self._attribution

    def _known_accounts(self) -> list[tuple[int, str, str]]:
        known = [(r.customer_id, r.external_id, "account") for r in self.conn.execute(
            select(customer_accounts.c.customer_id, customer_accounts.c.external_id)
            .where(customer_accounts.c.tenant_id == self.tenant_id))]
        known += [(r.id, r.code, "customer") for r in self.conn.execute(
            select(customers.c.id, customers.c.code).where(customers.c.tenant_id == self.tenant_id))]
        return known


def attribute_accounts(parked: list[str], known: list[tuple[int, str, str]]) -> dict[str, tuple[int, str]]:
    """Match each unmapped account id to the one customer it plainly belongs to, or to nobody.

    Two deterministic signals: the same stem as a mapped account id ("acme-prod-eu" and "acme-prod-us" share
    "acme-prod"), or the customer's code inside the id. An id matching several customers stays unattributed
    (its case then holds no invoice, only the parked usage).
    """
    stems: dict[str, set[tuple[int, str]]] = defaultdict(set)
    codes: list[tuple[int, str]] = []
    for customer_id, value, kind in known:
        if kind == "account":
            stems[_stem(value)].add((customer_id, value))
        elif len(value) >= 4:
            codes.append((customer_id, value))
    out: dict[str, tuple[int, str]] = {}
    for account in parked:
        matches = {(c, v) for c, v in stems.get(_stem(account), set())}
        if not matches:
            matches = {(c, code) for c, code in codes if code.lower() in account.lower()}
        customers_ = {c for c, _ in matches}
        if len(customers_) == 1:
            out[account] = min(matches, key=lambda m: m[1])
    return out


def _stem(account: str) -> str:
    stem = _STEM.sub("", account)
    return stem if len(stem) >= 4 else account

