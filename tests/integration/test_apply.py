"""Declarative apply against a real database: idempotent, all-or-nothing, every problem located."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.errors import ApplyError
from invoiceflow.store.tables import contract_versions, customers, plan_versions, subscriptions
from invoiceflow.store.tenancy import tenant_id

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.yaml"


def _apply(engine, doc):
    with engine.begin() as conn:
        return apply_document(conn, tenant_id(conn), doc)


def _count(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_apply_twice_changes_nothing(engine):
    doc = load_document(CATALOG)
    first = _apply(engine, doc)
    assert first.created["customers"] == 3 and first.created["contract_versions"] == 3
    second = _apply(engine, load_document(CATALOG))
    assert not second.changed
    assert second.unchanged["customers"] == 3 and second.unchanged["subscriptions"] == 3


def test_changed_plan_prices_make_a_new_plan_version_but_contracts_keep_theirs(engine):
    doc = load_document(CATALOG)
    _apply(engine, doc)
    doc["plans"][0]["charges"][0]["price"]["amount"] = "35.00"
    report = _apply(engine, doc)
    assert report.created["plan_versions"] == 1
    with engine.connect() as conn:
        pinned = conn.execute(select(plan_versions.c.version).join(
            contract_versions, contract_versions.c.plan_version_id == plan_versions.c.id)).scalars().all()
    assert set(pinned) == {1}


def test_update_in_place_and_unknown_reference(engine):
    doc = load_document(CATALOG)
    _apply(engine, doc)
    doc["customers"][0]["name"] = "Globex Corporation"
    assert _apply(engine, doc).updated["customers"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(customers.c.name).where(customers.c.code == "globex")).scalar() == "Globex Corporation"


@pytest.mark.parametrize(
    ("mutate", "record", "field", "fragment"),
    [
        (lambda d: d["customers"][0].update(legal_entity="nope"), "customers[0] (globex)", "legal_entity",
         "unknown legal entity 'nope'"),
        (lambda d: d["plans"][0]["charges"][0]["price"].update(currency="EUR"), "plans[0] (pro)",
         "charges[0].price.currency", "differs from the plan's currency USD"),
        (lambda d: d["plans"][0]["charges"][1]["price"]["tiers"][1].update(up_to="50"), "plans[0] (pro)",
         "charges[1].price", "ascending"),
        (lambda d: d["contracts"][0]["versions"].append({"effective_from": "2026-01-01", "plan": "enterprise"}),
         "contracts[0] (ctr-globex)", "versions[1].effective_from", "date order"),
        (lambda d: d["contracts"][0]["versions"][0].update(effective_to="2026-03-01") or
         d["contracts"][0]["versions"].append({"effective_from": "2026-02-01", "plan": "enterprise"}),
         "contracts[0] (ctr-globex)", "versions[1].effective_from", "overlaps"),
        (lambda d: d["contracts"][0].update(currency="JPY"), "contracts[0] (ctr-globex)", "versions[0].plan",
         "plan pro is priced in USD but the contract is in JPY"),
        (lambda d: d["contracts"][2].update(customer="globex"), "contracts[2] (ctr-umbrella)", "currency",
         "customer globex is billed in USD"),
        (lambda d: d["contracts"][2]["versions"][0].update(plan="pro"), "contracts[2] (ctr-umbrella)",
         "versions[0].plan", "priced in USD"),
        (lambda d: d["customers"][0].update(timezone="Mars/Olympus"), "customers[0] (globex)", "timezone",
         "unknown time zone"),
        (lambda d: d["subscriptions"][0].update(interval="fortnightly"), "subscriptions[0] (sub-globex)",
         "interval", "is not one of"),
        (lambda d: d["subscriptions"][0].update(start_date="2025-12-01"), "subscriptions[0] (sub-globex)",
         "start_date", "before the contract's first version"),
        (lambda d: d["plans"][0]["charges"][1].update(meter="nope"), "plans[0] (pro)", "charges[1].meter",
         "unknown meter 'nope'"),
        (lambda d: d["customers"][0].update(currency="XYZ"), "customers[0] (globex)", "currency",
         "not an ISO 4217 code"),
    ],
)
def test_bad_documents_are_refused_whole_with_record_and_field(engine, mutate, record, field, fragment):
    doc = copy.deepcopy(load_document(CATALOG))
    mutate(doc)
    with pytest.raises(ApplyError) as caught:
        _apply(engine, doc)
    assert any(p.record == record and p.field.startswith(field) and fragment in p.message
               for p in caught.value.problems), caught.value.problems
    assert _count(engine, customers) == 0 and _count(engine, subscriptions) == 0
