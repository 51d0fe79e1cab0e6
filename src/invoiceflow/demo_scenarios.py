"""What goes wrong in the demo tenant, on purpose, so the governed release has something to catch.

- a customer billed across an EU border whose VAT id is missing (its invoices go to the tax queue);
- usage sent under a telemetry account id nobody mapped (parked; the customer's invoice goes to revops);
- usage that arrives after October was billed (late; revops);
- contracts amended in the CRM effective mid-November, after the November drafts were built (stale price;
  finance).

Deterministic: the same customers are picked every run, so running the demo again changes nothing.
"""

from __future__ import annotations

from copy import deepcopy
from decimal import Decimal
from typing import Any, Iterator

import yaml

from invoiceflow.policy.document import default_source

TEAM = {
    "ada.admin": ["admin"], "maya.finance": ["finance"], "omar.controller": ["finance", "approver"],
    "rita.revops": ["revops"], "tariq.tax": ["tax"], "sam.support": ["support"], "cole.collections": ["collections"],
}
STALE_FROM = "2026-11-15"


def policy_source() -> str:
    """The default policy plus one rule: enterprise invoices above a threshold need an approver."""
    doc = yaml.safe_load(default_source())
    doc["name"] = "Demo release controls"
    doc["approvals"]["rules"].append({
        "name": "large enterprise invoice", "when": {
            "segments": ["enterprise"], "min_total": {"USD": "600", "EUR": "600", "GBP": "500", "JPY": "90000"}},
        "levels": ["approver"]})
    return yaml.safe_dump(doc, sort_keys=False)


def missing_vat_customer(doc: dict[str, Any]) -> str | None:
    """The first customer billed across an EU border (reverse charge), whose VAT id the demo drops."""
    for customer in doc["customers"]:
        if customer["legal_entity"] == "acme-eu" and customer["billing_address"]["country"] in ("FR", "ES"):
            return customer["code"]
    return None


def without_vat_id(doc: dict[str, Any], code: str | None) -> dict[str, Any]:
    doc = deepcopy(doc)
    for customer in doc["customers"]:
        if customer["code"] == code:
            customer.pop("tax_ids", None)
    return doc


def unmapped_account(doc: dict[str, Any]) -> tuple[str, str] | None:
    """(customer code, unmapped account id): a customer on an api_calls plan whose usage also arrives under
    a second telemetry id nobody mapped."""
    monthly = {s["contract"] for s in doc["subscriptions"] if s["interval"] == "monthly" and not s.get("end_date")}
    candidates = [c for c, contract in zip(doc["customers"], doc["contracts"])
                  if contract["versions"][0]["plan"].split("-")[0] in ("starter", "scale")
                  and contract["code"] in monthly]
    if not candidates:
        return None
    customer = candidates[len(candidates) // 3]
    return customer["code"], customer["account_ids"][0] + "-eu"


def unmapped_usage(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    found = unmapped_account(doc)
    if found is None:
        return
    _, account = found
    for n in range(25):
        yield {"transaction_id": f"unmapped-{account}-{n:03d}", "external_account_id": account,
               "metric": "api_calls", "timestamp": f"2026-10-{1 + n:02d}T08:00:00Z", "properties": {"region": "eu"}}


def stale_contracts(doc: dict[str, Any], count: int = 3) -> list[str]:
    """Contracts on a monthly calendar subscription, billed in advance, that run through November."""
    subs = {s["contract"]: s for s in doc["subscriptions"]}
    picked = []
    for contract in doc["contracts"]:
        sub = subs[contract["code"]]
        plan = contract["versions"][-1]["plan"]
        if (plan.split("-")[0] in ("starter", "growth", "scale") and sub["interval"] == "monthly"
                and sub.get("anchor") == "calendar" and not sub.get("end_date") and not sub.get("trial_end")
                and sub["start_date"] < "2026-10-01" and len(contract["versions"]) == 1):
            picked.append(contract["code"])
        if len(picked) == count:
            break
    return picked


def with_stale_amendments(doc: dict[str, Any]) -> dict[str, Any]:
    """A price increase on the base fee, effective mid-November, for the stale contracts."""
    doc = deepcopy(doc)
    chosen = set(stale_contracts(doc))
    plans = {p["code"]: p for p in doc["plans"]}
    for contract in doc["contracts"]:
        if contract["code"] in chosen:
            plan = plans[contract["versions"][-1]["plan"]]
            base = next(c for c in plan["charges"] if c["code"] == "base")
            amount = Decimal(str(base["price"]["amount"]))
            raised = str((amount * 11 / 10).quantize(amount))
            contract["versions"].append({"effective_from": STALE_FROM, "plan": plan["code"],
                                         "price_overrides": {"base": {"model": "flat", "amount": raised}}})
    return doc

