"""Tenant isolation: tenant alpha's admin key tries every route on tenant beta's objects.

Every route with an object in its path is called with beta's real ids and codes and a body that would act
on them: the answer is 404 problem+json, the response never contains beta's data, and beta's rows are
exactly as before. A catalog PUT resolves the code in the caller's tenant, where beta's codes do not exist,
so with the probe's If-Match (update only) it answers 412 and writes nothing. List routes and the writes
that act on the caller's own tenant are checked the same way: nothing of beta in the response, nothing of
beta changed.
"""

from __future__ import annotations

import re

from conftest import auth
from sqlalchemy import select, text

from invoiceflow.api.app import all_routes
from invoiceflow.api.routing import ApiRoute

BODIES = {
    "/v1/catalog": {"customers": [{"code": "only-b", "name": "Hijack", "currency": "EUR",
                                   "legal_entity": "only-b-le"}]},
    "/v1/contracts/{code}/amendments": {"version": {"effective_from": "2026-12-01", "plan": "only-b-plan"}},
    "/v1/usage-events": {"transaction_id": "x-1", "customer": "only-b", "metric": "only-b_meter",
                         "timestamp": "2026-09-01T10:00:00Z", "value": 1},
    "/v1/usage-events/batch": {"events": [{"transaction_id": "x-2", "customer": "only-b", "metric": "only-b_meter",
                                           "timestamp": "2026-09-01T10:00:00Z", "value": 1}]},
    "/v1/bill-runs": {"period": "2026-09"},
    "/v1/cases/{case_id}/assign": {"to": "ada"},
    "/v1/cases/{case_id}/resolve": {"action": "escalate", "reason": "isolation probe"},
    "/v1/cases/{case_id}/approve-override": {"reason": "isolation probe"},
    "/v1/effects/{effect_id}/replay": {"force": True},
    "/v1/invoices/{invoice_id}/credit-notes": {"reason": "isolation probe", "reference": "isolation-probe"},
    # PUT: each would rewrite beta's record if the code resolved across tenants
    "/v1/legal-entities/{code}": {"name": "Hijack", "country": "DE", "currency": "EUR"},
    "/v1/customers/{code}": {"name": "Hijack", "currency": "EUR", "legal_entity": "only-b-le"},
    "/v1/products/{code}": {"name": "Hijack", "tax_code": "zero"},
    "/v1/meters/{code}": {"name": "Hijack", "aggregation": "sum", "field": "n"},
    "/v1/plans/{code}": {"name": "Hijack", "currency": "EUR", "charges": [
        {"code": "base", "product": "only-b-prod", "price": {"model": "flat", "amount": "0.00"}}]},
    "/v1/contracts/{code}": {"customer": "only-b", "currency": "EUR", "versions": [
        {"effective_from": "2026-01-01", "plan": "only-b-plan"},
        {"effective_from": "2026-12-01", "plan": "only-b-plan"}]},
    "/v1/subscriptions/{code}": {"contract": "c-only-b", "interval": "annual", "start_date": "2026-09-01"},
    # members are named per tenant: this sets alpha's own admin-user to what it holds, never beta's
    "/v1/members/{name}": {"roles": ["admin"]},
    "/v1/api-keys": {"member": "admin-user", "roles": ["admin"]},
}
TABLES = ("invoices", "invoice_transitions", "review_cases", "findings", "effects", "usage_events", "policies",
          "audit_log", "customers", "contract_versions", "bill_runs", "members", "approvals", "legal_entities",
          "products", "meters", "plans", "plan_versions", "contracts", "subscriptions", "customer_accounts",
          "api_keys")


def beta_targets(engine, beta) -> dict[str, str]:
    with engine.connect() as conn:
        key_id = conn.execute(text("SELECT min(id) FROM api_keys WHERE tenant_id = :t"), {"t": beta.id}).scalar_one()
    return {"invoice_id": str(beta.invoices[0]), "case_id": str(beta.cases[0]), "effect_id": str(beta.effect),
            "event_id": "beta-evt-1", "endpoint_id": "1", "delivery_id": str(beta.effect),
            "run_id": str(beta.bill_run), "transaction_id": "only-b-evt-0", "version": "2", "queue": "finance",
            "key_id": str(key_id), "name": "admin-user"}


def code_for(path: str) -> str:
    for prefix, code in (("/v1/legal-entities", "only-b-le"), ("/v1/customers", "only-b"),
                         ("/v1/products", "only-b-prod"), ("/v1/meters", "only-b_meter"),
                         ("/v1/plans", "only-b-plan"), ("/v1/contracts", "c-only-b"),
                         ("/v1/subscriptions", "s-only-b")):
        if path.startswith(prefix):
            return code
    raise AssertionError(f"no beta code for {path}")


def snapshot(engine, tenant_id: int) -> dict[str, list]:
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(text(f"SELECT * FROM {table} WHERE tenant_id = :t"), {"t": tenant_id}).all()
            out[table] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def test_alpha_cannot_read_or_write_beta(world, client):
    engine, alpha, beta = world
    before = snapshot(engine, beta.id)
    targets = beta_targets(engine, beta)
    beta_markers = ("only-b", "beta")  # beta's codes and tenant code; a response may echo what was sent
    checked = 0
    for route in all_routes(client.app):
        if not isinstance(route, ApiRoute):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            params = re.findall(r"\{(\w+)\}", route.path)
            path = route.path
            for name in params:
                path = path.replace("{" + name + "}", code_for(route.path) if name == "code" else targets[name])
            headers = auth(alpha.keys["admin"], **{"If-Match": "*"})
            body = {"POST": BODIES.get(route.path, {"reason": "isolation probe"}),
                    "PUT": BODIES.get(route.path)}.get(method)
            response = client.request(method, path, headers=headers, json=body)
            text_ = response.text
            assert response.status_code < 500, (method, path, text_)
            sent = path + str(body)
            assert not any(m in text_ and m not in sent for m in beta_markers), (method, path, text_[:500])
            if params and route.path != "/v1/queues/{queue}/cases":
                if route.path == "/v1/members/{name}":  # acts on the caller's own member of that name
                    assert response.status_code == 200, (method, path, response.status_code, text_)
                    assert response.json()["roles"] == ["admin"]
                    checked += 1
                    continue
                expected = 412 if method == "PUT" and "{code}" in route.path else 404
                assert response.status_code == expected, (method, path, response.status_code, text_)
                assert response.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked > 50
    assert snapshot(engine, beta.id) == before


def test_beta_objects_are_there_for_beta(world, client):
    """The probe above means something only if beta's own key does see those objects."""
    _, _, beta = world
    for path in (f"/v1/invoices/{beta.invoices[0]}", f"/v1/cases/{beta.cases[0]}", f"/v1/effects/{beta.effect}",
                 f"/v1/bill-runs/{beta.bill_run}", "/v1/usage-events/only-b-evt-0", "/v1/policies/2",
                 "/v1/customers/only-b", "/v1/contracts/c-only-b", "/v1/plans/only-b-plan"):
        assert client.get(path, headers=auth(beta.keys["admin"])).status_code == 200, path


def test_lists_only_show_the_callers_tenant(world, client):
    engine, alpha, beta = world
    from invoiceflow.store.tables import invoices

    with engine.connect() as conn:
        alpha_invoices = set(conn.execute(select(invoices.c.id).where(invoices.c.tenant_id == alpha.id)).scalars())
    listed = client.get("/v1/invoices?limit=500", headers=auth(alpha.keys["admin"])).json()["data"]
    assert {i["id"] for i in listed} == alpha_invoices
    listed = client.get("/v1/cases?status=all", headers=auth(alpha.keys["admin"])).json()["data"]
    assert {c["id"] for c in listed} == set(alpha.cases)
