"""Declarative apply: create or update catalog, customers, contracts and subscriptions from a document.

Records are matched by code and compared by a content hash, so applying the same document twice changes
nothing. Everything runs in the caller's transaction and every problem is collected before raising, so a
refused document leaves nothing written. Billed history is protected: a contract version or subscription
term that an invoice already used cannot be changed, and amendments cannot take effect on or before a date
that was already billed (corrections to billed periods are credit notes).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, update

from invoiceflow.catalog.document import check_document, label
from invoiceflow.catalog.gl_setup import apply_gl
from invoiceflow.metering.unmapped import attach_mapped_usage
from invoiceflow.errors import ApplyError, Problem
from invoiceflow.money import to_decimal
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
    plans,
    prepaid_credits,
    products,
    subscriptions,
    usage_events,
)


@dataclass
class ApplyReport:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(sum(self.created.values()) or sum(self.updated.values()))

    def rows(self) -> list[tuple[str, int, int, int]]:
        kinds = sorted(set(self.created) | set(self.updated) | set(self.unchanged))
        return [(k, self.created[k], self.updated[k], self.unchanged[k]) for k in kinds]


def content_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def apply_document(conn: Connection, tenant_id: int, doc: dict[str, Any]) -> ApplyReport:
    """Apply `doc` for the tenant inside the caller's transaction; raises ApplyError (write nothing) on problems."""
    check_document(doc)
    applier = _Applier(conn, tenant_id)
    for section, step in (
        ("legal_entities", applier.legal_entity),
        ("products", applier.product),
        ("meters", applier.meter),
        ("customers", applier.customer),
        ("plans", applier.plan),
        ("contracts", applier.contract),
        ("subscriptions", applier.subscription),
        ("prepaid_credits", applier.prepaid_credit),
    ):
        for i, item in enumerate(doc.get(section, [])):
            step(label(section, i, item), item)
    for i, item in enumerate(doc.get("gl", [])):
        apply_gl(conn, tenant_id, f"gl[{i}] ({item['legal_entity']})", item, applier.report, applier.problem)
    if applier.problems:
        raise ApplyError(applier.problems)
    if applier.report.created["account_ids"]:
        attached = attach_mapped_usage(conn, tenant_id)
        if attached:
            applier.report.created["parked_events_attached"] += attached
    return applier.report


class _Applier:
    def __init__(self, conn: Connection, tenant_id: int):
        self.conn = conn
        self.tenant_id = tenant_id
        self.report = ApplyReport()
        self.problems: list[Problem] = []
        self._rows: dict[str, dict[str, dict]] = {}  # table -> code -> row, loaded once per table
        self._versions: dict[int, list[dict]] | None = None
        self._contract_billed: dict[int, date] | None = None
        self._accounts: dict[str, int] | None = None
        self._plan_versions: dict[tuple, Any] = {}  # plans are applied before contracts, so this stays true

    # -- helpers -------------------------------------------------------------------------------------------
    def problem(self, record: str, field_name: str, message: str) -> None:
        self.problems.append(Problem(record, field_name, message))

    def find(self, table: Table, code: str) -> dict | None:
        """The tenant's row with `code`; each table is read once, then kept current by insert_row/update_row."""
        rows = self._rows.get(table.name)
        if rows is None:
            query = select(table).where(table.c.tenant_id == self.tenant_id)
            rows = self._rows[table.name] = {r["code"]: dict(r) for r in self.conn.execute(query).mappings()}
        return rows.get(code)

    def insert_row(self, table: Table, values: dict) -> int:
        row = {"tenant_id": self.tenant_id, **values}
        # values as parameters, not in the statement, so the compiled INSERT is reused for every record
        row["id"] = int(self.conn.execute(insert(table).returning(table.c.id), row).scalar_one())
        if table.name in self._rows:
            self._rows[table.name][row["code"]] = row
        return row["id"]

    def update_row(self, table: Table, existing: dict, values: dict) -> None:
        self.conn.execute(update(table).where(table.c.id == existing["id"]).values(**values))
        existing.update(values)

    def id_of(self, table: Table, code: str, record: str, field_name: str, kind: str) -> int | None:
        row = self.find(table, code)
        if row is None:
            self.problem(record, field_name, f"unknown {kind} {code!r}")
            return None
        return int(row["id"])

    def upsert(self, kind: str, table: Table, item: dict, values: dict, guard=None) -> int | None:
        digest = content_hash(item)
        existing = self.find(table, item["code"])
        if existing is None:
            new_id = self.insert_row(table, {"code": item["code"], "content_hash": digest, **values})
            self.report.created[kind] += 1
            return new_id
        if existing["content_hash"] == digest:
            self.report.unchanged[kind] += 1
            return int(existing["id"])
        if guard is not None and not guard(existing):
            return int(existing["id"])
        self.update_row(table, existing, {"content_hash": digest, **values})
        self.report.updated[kind] += 1
        return int(existing["id"])

    def versions_of(self, contract_id: int) -> list[dict]:
        if self._versions is None:  # every stored version and billed date of the tenant, read once
            self._versions = defaultdict(list)
            for row in self.conn.execute(select(contract_versions).where(
                    contract_versions.c.tenant_id == self.tenant_id)).mappings():
                self._versions[row["contract_id"]].append(dict(row))
            self._contract_billed = dict(self.conn.execute(
                select(invoices.c.contract_id, func.max(invoices.c.billing_date))
                .where(invoices.c.tenant_id == self.tenant_id).group_by(invoices.c.contract_id)).all())
        return self._versions[contract_id]

    def last_billed(self, column, value: int) -> date | None:
        return self.conn.execute(select(func.max(invoices.c.billing_date)).where(column == value)).scalar()

    # -- sections ------------------------------------------------------------------------------------------
    def legal_entity(self, record: str, item: dict) -> None:
        values = {k: item.get(k) for k in ("name", "country", "currency", "tax_id", "address")}
        self.upsert("legal_entities", legal_entities, item, values)

    def product(self, record: str, item: dict) -> None:
        self.upsert("products", products, item, {"name": item["name"], "description": item.get("description"),
                                                  "tax_code": item.get("tax_code", "standard")})

    def meter(self, record: str, item: dict) -> None:
        values = {
            "name": item["name"], "aggregation": item["aggregation"], "field": item.get("field"),
            "group_by": item.get("group_by", []), "unit": item.get("unit"),
        }

        def guard(existing) -> bool:
            semantic = ("aggregation", "field", "group_by")
            if all(existing[k] == values[k] for k in semantic):
                return True
            has_events = self.conn.execute(
                select(usage_events.c.id).where(usage_events.c.meter_id == existing["id"]).limit(1)
            ).first()
            if has_events:
                self.problem(record, "aggregation", "meter already has usage events: its aggregation, field and "
                             "group_by cannot change (create a new meter instead)")
                return False
            return True

        self.upsert("meters", meters, item, values, guard)

    def customer(self, record: str, item: dict) -> None:
        entity_id = self.id_of(legal_entities, item["legal_entity"], record, "legal_entity", "legal entity")
        if entity_id is None:
            return
        values = {
            "name": item["name"], "email": item.get("email"), "timezone": item.get("timezone", "UTC"),
            "currency": item["currency"], "legal_entity_id": entity_id,
            "billing_address": item.get("billing_address"), "tax_ids": item.get("tax_ids"),
            "segment": item.get("segment"), "crm_id": item.get("crm_id"),
            "po_required": int(bool(item.get("po_required"))), "tax_exempt": int(bool(item.get("tax_exempt"))),
        }

        def guard(existing) -> bool:
            if existing["currency"] != item["currency"] and self.conn.execute(
                select(invoices.c.id).where(invoices.c.customer_id == existing["id"]).limit(1)
            ).first():
                self.problem(record, "currency", "customer already has invoices in "
                             f"{existing['currency']}; its currency cannot change")
                return False
            return True

        customer_id = self.upsert("customers", customers, item, values, guard)
        if self._accounts is None:
            self._accounts = dict(self.conn.execute(
                select(customer_accounts.c.external_id, customer_accounts.c.customer_id)
                .where(customer_accounts.c.tenant_id == self.tenant_id)).all())
        for external_id in item.get("account_ids", []):
            owner = self._accounts.get(external_id)
            if owner is None:
                self.conn.execute(insert(customer_accounts), {
                    "tenant_id": self.tenant_id, "external_id": external_id, "customer_id": customer_id,
                    "source": "telemetry"})
                self._accounts[external_id] = customer_id
                self.report.created["account_ids"] += 1
            elif owner != customer_id:
                self.problem(record, "account_ids", f"account id {external_id!r} already belongs to another customer")

    def plan(self, record: str, item: dict) -> None:
        for j, charge in enumerate(item["charges"]):
            self.id_of(products, charge["product"], record, f"charges[{j}].product", "product")
            if charge.get("meter"):
                self.id_of(meters, charge["meter"], record, f"charges[{j}].meter", "meter")
        existing = self.find(plans, item["code"])
        if existing is None:
            plan_id = self.insert_row(plans, {"code": item["code"], "name": item["name"],
                                              "currency": item["currency"]})
            self.report.created["plans"] += 1
        else:
            plan_id = existing["id"]
            if existing["currency"] != item["currency"]:
                self.problem(record, "currency", f"plan is priced in {existing['currency']}; a plan's currency "
                             "cannot change (create a new plan)")
                return
            if existing["name"] != item["name"]:
                self.update_row(plans, existing, {"name": item["name"]})
        digest = content_hash(item["charges"])
        latest = self.conn.execute(
            select(plan_versions).where(plan_versions.c.plan_id == plan_id).order_by(plan_versions.c.version.desc())
        ).mappings().first()
        if latest is not None and latest["content_hash"] == digest:
            self.report.unchanged["plan_versions"] += 1
            return
        self.conn.execute(insert(plan_versions).values(
            tenant_id=self.tenant_id, plan_id=plan_id, version=(latest["version"] + 1) if latest else 1,
            charges=item["charges"], content_hash=digest,
        ))
        self.report.created["plan_versions"] += 1

    def contract(self, record: str, item: dict) -> None:
        customer = self.find(customers, item["customer"])
        if customer is None:
            self.problem(record, "customer", f"unknown customer {item['customer']!r}")
            return
        if customer["currency"] != item["currency"]:
            self.problem(record, "currency", f"contract is in {item['currency']} but customer "
                         f"{customer['code']} is billed in {customer['currency']}")
            return
        existing = self.find(contracts, item["code"])
        if existing is None:
            contract_id = self.insert_row(contracts, {
                "code": item["code"], "customer_id": customer["id"], "currency": item["currency"],
                "po_number": item.get("po_number")})
            self.report.created["contracts"] += 1
        else:
            contract_id = existing["id"]
            if existing["customer_id"] != customer["id"] or existing["currency"] != item["currency"]:
                self.problem(record, "customer", "a contract's customer and currency cannot change")
                return
            if existing["po_number"] != item.get("po_number"):
                self.update_row(contracts, existing, {"po_number": item.get("po_number")})
                self.report.updated["contracts"] += 1
        self._contract_versions(record, contract_id, item)

    def _contract_versions(self, record: str, contract_id: int, item: dict) -> None:
        stored = {row["effective_from"]: row for row in self.versions_of(contract_id)}
        last_billed = self._contract_billed.get(contract_id)
        wanted = {date.fromisoformat(v["effective_from"]) for v in item["versions"]}
        for missing in sorted(set(stored) - wanted):
            self.problem(record, "versions", f"version {stored[missing]['version']} (effective {missing}) is "
                         "missing from the document; contract versions are kept for traceability")
        next_number = max((r["version"] for r in stored.values()), default=0) + 1
        for j, version in enumerate(item["versions"]):
            where = f"versions[{j}]"
            start = date.fromisoformat(version["effective_from"])
            digest = content_hash(version)
            row = stored.get(start)
            if row is not None and row["content_hash"] == digest:
                self.report.unchanged["contract_versions"] += 1
                continue
            plan_version_id = self._plan_version_for(record, where, version, item["currency"])
            if plan_version_id is None:
                continue
            if last_billed is not None and start <= last_billed:
                self.problem(record, f"{where}.effective_from", f"the contract is billed through {last_billed}; "
                             "an amendment must take effect after that (correct billed periods with a credit note)")
                continue
            values = {"plan_version_id": plan_version_id, "terms": version, "content_hash": digest}
            if row is None:
                new = {"tenant_id": self.tenant_id, "contract_id": contract_id, "version": next_number,
                       "effective_from": start, **values}
                self.conn.execute(insert(contract_versions), new)
                self._versions[contract_id].append(new)
                next_number += 1
                self.report.created["contract_versions"] += 1
            elif self.conn.execute(select(invoice_lines.c.id).where(
                invoice_lines.c.contract_version_id == row["id"]).limit(1)).first():
                self.problem(record, where, f"version {row['version']} was already billed and cannot change; "
                             "add an amendment with a later effective_from")
            else:
                self.conn.execute(update(contract_versions).where(contract_versions.c.id == row["id"]).values(**values))
                self.report.updated["contract_versions"] += 1

    def _plan_version_for(self, record: str, where: str, version: dict, currency: str) -> int | None:
        plan = self.find(plans, version["plan"])
        if plan is None:
            self.problem(record, f"{where}.plan", f"unknown plan {version['plan']!r}")
            return None
        if plan["currency"] != currency:
            self.problem(record, f"{where}.plan", f"plan {plan['code']} is priced in {plan['currency']} but the "
                         f"contract is in {currency}")
            return None
        key = (plan["id"], version.get("plan_version"))
        found = self._plan_versions.get(key)
        if found is None:
            query = select(plan_versions.c.id).where(plan_versions.c.plan_id == plan["id"])
            if version.get("plan_version"):
                query = query.where(plan_versions.c.version == version["plan_version"])
            found = self._plan_versions[key] = self.conn.execute(
                query.order_by(plan_versions.c.version.desc())).first()
        if found is None:
            self.problem(record, f"{where}.plan_version", f"plan {plan['code']} has no version "
                         f"{version.get('plan_version')}")
            return None
        return int(found.id)

    def subscription(self, record: str, item: dict) -> None:
        contract = self.find(contracts, item["contract"])
        if contract is None:
            self.problem(record, "contract", f"unknown contract {item['contract']!r}")
            return
        first = min((v["effective_from"] for v in self.versions_of(contract["id"])), default=None)
        start = date.fromisoformat(item["start_date"])
        if first is not None and start < first:
            self.problem(record, "start_date", f"starts before the contract's first version ({first}): "
                         "no price would apply")
        values = {
            "customer_id": contract["customer_id"], "contract_id": contract["id"], "interval": item["interval"],
            "anchor": item.get("anchor", "calendar"), "start_date": start,
            "end_date": date.fromisoformat(item["end_date"]) if item.get("end_date") else None,
            "trial_end": date.fromisoformat(item["trial_end"]) if item.get("trial_end") else None,
            "cancel_mode": item.get("cancel_mode"),
        }

        def guard(existing) -> bool:
            last = self.last_billed(invoices.c.subscription_id, existing["id"])
            if last is None:
                return True
            ok = True
            for fixed in ("contract_id", "interval", "anchor", "start_date", "trial_end"):
                if existing[fixed] != values[fixed]:
                    self.problem(record, fixed, f"cannot change after billing started (billed through {last})")
                    ok = False
            if existing["end_date"] != values["end_date"] and values["end_date"] is not None \
                    and values["end_date"] <= last:
                self.problem(record, "end_date", f"already billed through {last}; a cancellation must take "
                             "effect after that")
                ok = False
            return ok

        self.upsert("subscriptions", subscriptions, item, values, guard)

    def prepaid_credit(self, record: str, item: dict) -> None:
        customer = self.find(customers, item["customer"])
        if customer is None:
            self.problem(record, "customer", f"unknown customer {item['customer']!r}")
            return
        if customer["currency"] != item["currency"]:
            self.problem(record, "currency", f"customer {customer['code']} is billed in {customer['currency']}")
            return
        existing = self.find(prepaid_credits, item["code"])
        values = {"customer_id": customer["id"], "currency": item["currency"],
                  "amount": to_decimal(item["amount"]), "granted_on": date.fromisoformat(item["granted_on"])}
        if existing is None:
            self.insert_row(prepaid_credits, {"code": item["code"], **values})
            self.report.created["prepaid_credits"] += 1
        elif all(existing[k] == v for k, v in values.items()):
            self.report.unchanged["prepaid_credits"] += 1
        else:
            self.problem(record, "code", "a top-up with this code was already recorded with other values; "
                         "top-ups are immutable (use a new code)")
