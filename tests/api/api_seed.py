"""Two tenants billed from tests/fixtures/governed.yaml, each with objects only it has, cases, usage, an
effect, policy versions, and one API key per role: the world the API tests run against."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import yaml
from sqlalchemy import select

from invoiceflow.api.credentials import create_api_key
from invoiceflow.billing.run import run_bill_run
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import FrozenClock
from invoiceflow.effects.outbox import enqueue
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.policy.document import default_source
from invoiceflow.policy.store import apply_policy
from invoiceflow.rating.periods import to_epoch_micros
from invoiceflow.review.release import release
from invoiceflow.store.review_tables import review_cases
from invoiceflow.store.tables import invoices
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import ROLES, set_member

CATALOG = Path(__file__).parent.parent / "fixtures" / "governed.yaml"
CLOCK_AT = datetime(2026, 9, 2, 9, 0, tzinfo=timezone.utc)
TEAM = {"ada": ["admin"], "fin": ["finance", "approver"], "apr": ["approver"], "rev": ["revops"]}


@dataclass
class Tenant:
    code: str
    id: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # role or member name -> key
    invoices: list[int] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)
    effect: int = 0
    bill_run: int = 0
    only: str = ""  # the prefix of the codes only this tenant has


def clock() -> FrozenClock:
    return FrozenClock(CLOCK_AT)


def catalog(only: str) -> dict:
    """The governed catalog plus a legal entity, product, meter, plan, customer, contract and subscription
    whose codes start with `only` (and a legal entity without GL mapping: its invoice opens a case)."""
    doc = load_document(CATALOG)
    le = {**copy.deepcopy(doc["legal_entities"][0]), "code": f"{only}-le"}
    plan = copy.deepcopy(next(p for p in doc["plans"] if p["code"] == "pro-eur"))
    plan["code"] = f"{only}-plan"
    for charge in plan["charges"]:
        charge["product"] = f"{only}-prod"
        if "meter" in charge:
            charge["meter"] = f"{only}_meter"
    customer = {**copy.deepcopy(doc["customers"][0]), "code": only, "legal_entity": f"{only}-le",
                "account_ids": [f"tel-{only}"]}
    doc["legal_entities"].append(le)
    doc["products"].append({"code": f"{only}-prod", "name": "Only here", "tax_code": "digital_service"})
    doc["meters"].append({"code": f"{only}_meter", "name": "Only here", "aggregation": "count"})
    doc["plans"].append(plan)
    doc["customers"].append(customer)
    doc["contracts"].append({"code": f"c-{only}", "customer": only, "currency": "EUR",
                             "versions": [{"effective_from": "2026-01-01", "plan": f"{only}-plan"}]})
    doc["subscriptions"].append({"code": f"s-{only}", "contract": f"c-{only}", "interval": "monthly",
                                 "start_date": "2026-09-01"})
    return doc


def seed_tenant(engine, code: str, only: str, *, policies: int = 1) -> Tenant:
    t = Tenant(code, only=only)
    at = CLOCK_AT
    with engine.begin() as conn:
        t.id = tenant_id(conn, code)
        apply_document(conn, t.id, catalog(only))
        for name, roles in TEAM.items():
            set_member(conn, t.id, name, roles, actor="setup", at=at)
        for role in ROLES:
            t.keys[role] = create_api_key(conn, t.id, member=f"{role}-user", roles=[role], actor="setup", at=at).secret
        for name, roles in TEAM.items():
            t.keys[name] = create_api_key(conn, t.id, member=name, roles=roles, actor="setup", at=at).secret
        ingest_events(conn, t.id, [
            {"transaction_id": f"{only}-evt-{i}", "customer": only, "metric": f"{only}_meter",
             "timestamp": "2026-09-01T10:00:00Z", "value": 1} for i in range(3)],
            ingested_at_micros=to_epoch_micros(at))
        t.effect = enqueue(conn, t.id, "test.noop", target="nowhere", payload={"n": 1},
                           idempotency_key=f"{only}-effect", at=at).id
        for n in range(policies):
            doc = yaml.safe_load(default_source())
            doc["name"] = f"{only} policy {n + 1}"
            apply_policy(conn, t.id, yaml.safe_dump(doc, sort_keys=False), actor="ada", at=at)
    t.bill_run = run_bill_run(engine, as_of=date(2026, 9, 1), tenant=code, clock=clock()).bill_run_id
    release(engine, code, actor="system", clock=clock(), advance_validated=False)
    with engine.connect() as conn:
        t.invoices = list(conn.execute(select(invoices.c.id).where(invoices.c.tenant_id == t.id)
                                       .order_by(invoices.c.id)).scalars())
        t.cases = list(conn.execute(select(review_cases.c.id).where(review_cases.c.tenant_id == t.id)
                                    .order_by(review_cases.c.id)).scalars())
    return t
