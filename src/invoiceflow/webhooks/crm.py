"""CRM events become contracts: a closed-won opportunity creates (or amends) one, an amendment adds a version.

The opportunity names the customer (AccountNumber), the contract (ContractNumber), the plan, the date the
terms take effect and, optionally, negotiated unit prices per charge (LineItems). The contract document is
built from the stored contract (every existing version, as the amendments endpoint does) plus the new
version and applied with the catalog's `apply_document`, so the catalog's rules hold unchanged: no change on
or before a billed date, a plan in the contract's currency, applying the same event twice changes nothing.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import Connection, select

from invoiceflow.catalog.apply import apply_document
from invoiceflow.store.tables import contract_versions, contracts, customers, plan_versions, plans
from invoiceflow.webhooks.processing import Context, Processed, ProcessingError

_OVERRIDABLE = {"flat": "amount", "standard": "unit_price"}  # price model -> the field a unit price sets


def process(conn: Connection, ctx: Context, event: Mapping[str, Any]) -> Processed:
    opp = event["opportunity"]
    code, customer, plan = opp["ContractNumber"], opp["AccountNumber"], opp["PlanCode"]
    version: dict[str, Any] = {"effective_from": opp["EffectiveDate"], "plan": plan}
    overrides = _price_overrides(conn, ctx.tenant_id, plan, opp.get("LineItems") or [])
    if overrides:
        version["price_overrides"] = overrides
    existing = _stored_contract(conn, ctx.tenant_id, code)
    if existing is None and event["type"] == "contract.amended":
        raise ProcessingError(f"contract {code!r} does not exist in this tenant, so it cannot be amended; "
                              "send the closed-won opportunity first", field="opportunity.ContractNumber")
    versions = [version]
    item: dict[str, Any] = {"code": code, "customer": customer, "currency": opp["CurrencyIsoCode"]}
    if existing is not None:
        if existing["customer"] != customer:
            raise ProcessingError(f"contract {code!r} belongs to customer {existing['customer']!r}, not "
                                  f"{customer!r}", field="opportunity.AccountNumber")
        versions += [v for v in existing["versions"] if v.get("effective_from") != version["effective_from"]]
        if existing["po_number"]:
            item["po_number"] = existing["po_number"]
    if opp.get("PONumber"):
        item["po_number"] = opp["PONumber"]
    item["versions"] = sorted(versions, key=lambda v: str(v.get("effective_from")))
    report = apply_document(conn, ctx.tenant_id, {"contracts": [item]})
    return Processed({"action": "contract_amended" if existing else "contract_created", "contract": code,
                      "customer": customer, "plan": plan, "effective_from": version["effective_from"],
                      "price_overrides": sorted(overrides), "changed": report.changed,
                      "opportunity": opp["Id"]})


def _stored_contract(conn: Connection, tenant_id: int, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(contracts.c.id, contracts.c.po_number, customers.c.code.label("customer"))
                       .join(customers, customers.c.id == contracts.c.customer_id)
                       .where(contracts.c.tenant_id == tenant_id, contracts.c.code == code)).first()
    if row is None:
        return None
    terms = conn.execute(select(contract_versions.c.terms).where(contract_versions.c.contract_id == row.id)
                         .order_by(contract_versions.c.version)).scalars().all()
    return {"customer": row.customer, "po_number": row.po_number, "versions": [dict(t) for t in terms]}


def _price_overrides(conn: Connection, tenant_id: int, plan: str, items: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Catalog price overrides for negotiated unit prices; only flat and standard charges can take one."""
    if not items:
        return {}
    charges = conn.execute(select(plan_versions.c.charges).join(plans, plans.c.id == plan_versions.c.plan_id)
                           .where(plans.c.tenant_id == tenant_id, plans.c.code == plan)
                           .order_by(plan_versions.c.version.desc()).limit(1)).scalar()
    if charges is None:
        raise ProcessingError(f"unknown plan {plan!r}", field="opportunity.PlanCode")
    by_code = {c["code"]: c for c in charges}
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        where = f"opportunity.LineItems[{i}].ChargeCode"
        charge = by_code.get(item["ChargeCode"])
        if charge is None:
            raise ProcessingError(f"plan {plan!r} has no charge {item['ChargeCode']!r} (charges: "
                                  f"{', '.join(sorted(by_code))})", field=where)
        model = (charge.get("price") or {}).get("model")
        if model not in _OVERRIDABLE:
            raise ProcessingError(f"charge {item['ChargeCode']!r} is priced with the {model} model; a CRM unit "
                                  "price can only override flat or standard charges", field=where)
        out[item["ChargeCode"]] = {"model": model, _OVERRIDABLE[model]: item["UnitPrice"]}
    return out
