"""Per-resource catalog writes: `PUT /v1/<kind>/{code}` with ETag / If-Match, on SQLite and PostgreSQL.

A PUT is the catalog document apply of one record, so the tests check both the HTTP contract (201/200,
ETag, 428/412, create-only, problems naming the field) and that the document's rules and idempotency hold
unchanged: the seed's own records sent back change nothing, a billed subscription's terms stay fixed.
"""

from __future__ import annotations

import json
import threading
from importlib import resources

import httpx
import pytest
from api_seed import catalog
from conftest import auth
from sqlalchemy import select

from invoiceflow.api.schemas import catalog as models
from invoiceflow.store.tables import products, subscriptions

KINDS = {  # path segment -> (document section, the alpha-only code the seed created)
    "legal-entities": ("legal_entities", "only-a-le"),
    "products": ("products", "only-a-prod"),
    "meters": ("meters", "only-a_meter"),
    "customers": ("customers", "only-a"),
    "plans": ("plans", "only-a-plan"),
    "contracts": ("contracts", "c-only-a"),
    "subscriptions": ("subscriptions", "s-only-a"),
}


def seeded_item(section: str, code: str) -> dict:
    """The record exactly as the seed's catalog document applied it, without its code."""
    item = next(i for i in catalog("only-a")[section] if i["code"] == code)
    return {k: v for k, v in item.items() if k != "code"}


def row_of(engine, table, tenant_id: int, code: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(table).where(table.c.tenant_id == tenant_id, table.c.code == code))
                    .mappings().one())


def test_create_then_update_with_the_etag(world, client):
    _, alpha, _ = world
    key = alpha.keys["revops"]
    created = client.put("/v1/products/addon", headers=auth(key), json={"name": "Add-on", "tax_code": "saas"})
    assert created.status_code == 201, created.text
    assert created.json() == {"id": created.json()["id"], "code": "addon", "name": "Add-on", "description": None,
                              "tax_code": "saas"}
    read = client.get("/v1/products/addon", headers=auth(key))
    assert read.json() == created.json() and read.headers["etag"] == created.headers["etag"]

    updated = client.put("/v1/products/addon", headers=auth(key, **{"If-Match": created.headers["etag"]}),
                         json={"code": "addon", "name": "Add-on pack", "tax_code": "saas"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Add-on pack" and updated.json()["id"] == created.json()["id"]
    assert updated.headers["etag"] != created.headers["etag"]
    assert client.get("/v1/products/addon", headers=auth(key)).headers["etag"] == updated.headers["etag"]


def test_the_same_body_again_changes_nothing(world, client):
    engine, alpha, _ = world
    key = alpha.keys["admin"]
    body = {"name": "Gold", "currency": "EUR", "charges": [
        {"code": "base", "product": "only-a-prod", "timing": "advance", "price": {"model": "flat", "amount": "99.50"}}]}
    first = client.put("/v1/plans/gold", headers=auth(key), json=body)
    assert first.status_code == 201, first.text
    again = client.put("/v1/plans/gold", headers=auth(key, **{"If-Match": first.headers["etag"]}), json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json() and [v["version"] for v in again.json()["versions"]] == [1]
    assert again.headers["etag"] == first.headers["etag"]
    # the body is the document's item: the document apply of the same record agrees nothing changed
    report = client.post("/v1/catalog", headers=auth(key), json={"plans": [{"code": "gold", **body}]}).json()
    assert report["changed"] is False and report["unchanged"] == {"plan_versions": 1}


def test_null_is_the_same_as_leaving_a_field_out(world, client):
    _, alpha, _ = world
    key = alpha.keys["revops"]
    first = client.put("/v1/customers/nulls", headers=auth(key),
                       json={"name": "N", "currency": "EUR", "legal_entity": "only-a-le"})
    assert first.status_code == 201, first.text
    again = client.put("/v1/customers/nulls", headers=auth(key, **{"If-Match": first.headers["etag"]}),
                       json={"name": "N", "currency": "EUR", "legal_entity": "only-a-le", "email": None,
                             "segment": None, "billing_address": None, "tax_ids": None, "po_required": None})
    assert again.status_code == 200 and again.headers["etag"] == first.headers["etag"]
    assert again.json()["email"] is None and again.json()["po_required"] is False


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_reads_with_an_etag_and_takes_its_document_record_back_unchanged(world, client, kind):
    engine, alpha, _ = world
    key = alpha.keys["admin"]
    section, code = KINDS[kind]
    read = client.get(f"/v1/{kind}/{code}", headers=auth(key))
    assert read.status_code == 200 and read.headers["etag"].startswith('"')
    same = client.put(f"/v1/{kind}/{code}", headers=auth(key, **{"If-Match": read.headers["etag"]}),
                      json=seeded_item(section, code))
    assert same.status_code == 200, same.text
    assert same.json() == read.json() and same.headers["etag"] == read.headers["etag"]


def test_an_update_needs_the_current_etag(world, client):
    engine, alpha, _ = world
    key = alpha.keys["revops"]
    etag = client.get("/v1/products/only-a-prod", headers=auth(key)).headers["etag"]
    before = row_of(engine, products, alpha.id, "only-a-prod")
    body = {"name": "Renamed", "tax_code": "digital_service"}
    missing = client.put("/v1/products/only-a-prod", headers=auth(key), json=body)
    assert missing.status_code == 428 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["current_etag"] == etag and missing.json()["errors"][0]["field"] == "If-Match"
    stale = client.put("/v1/products/only-a-prod", headers=auth(key, **{"If-Match": '"not-the-etag"'}), json=body)
    assert stale.status_code == 412 and stale.json()["current_etag"] == etag
    assert row_of(engine, products, alpha.id, "only-a-prod") == before

    first = client.put("/v1/products/only-a-prod", headers=auth(key, **{"If-Match": etag}), json=body)
    assert first.status_code == 200
    lost = client.put("/v1/products/only-a-prod", headers=auth(key, **{"If-Match": etag}),
                      json={"name": "Someone else's name"})
    assert lost.status_code == 412  # the second editor read the old version: not silently overwritten
    assert client.get("/v1/products/only-a-prod", headers=auth(key)).json()["name"] == "Renamed"


def test_if_none_match_star_creates_only(world, client):
    engine, alpha, _ = world
    key = alpha.keys["revops"]
    create_only = auth(key, **{"If-None-Match": "*"})
    exists = client.put("/v1/meters/only-a_meter", headers=create_only,
                        json={"name": "Clobber", "aggregation": "count"})
    assert exists.status_code == 412 and exists.json()["errors"][0]["field"] == "If-None-Match"
    assert client.get("/v1/meters/only-a_meter", headers=auth(key)).json()["name"] == "Only here"
    new = client.put("/v1/meters/storage_gb", headers=create_only,
                     json={"name": "Storage", "aggregation": "max", "field": "gb", "unit": "GB"})
    assert new.status_code == 201, new.text
    assert new.json()["aggregation"] == "max" and new.json()["group_by"] == []


def test_if_match_on_a_code_that_does_not_exist_creates_nothing(world, client):
    _, alpha, _ = world
    key = alpha.keys["revops"]
    refused = client.put("/v1/products/ghost", headers=auth(key, **{"If-Match": "*"}), json={"name": "Ghost"})
    assert refused.status_code == 412 and "does not exist in this tenant" in refused.json()["detail"]
    assert client.get("/v1/products/ghost", headers=auth(key)).status_code == 404


def test_a_code_in_the_body_must_be_the_paths(world, client):
    _, alpha, _ = world
    key = alpha.keys["revops"]
    renamed = client.put("/v1/products/one", headers=auth(key), json={"code": "two", "name": "One"})
    assert renamed.status_code == 422 and renamed.headers["content-type"] == "application/problem+json"
    assert renamed.json()["errors"] == [{"field": "code", "pointer": "/code", "in": "body",
                                         "detail": "differs from the code in the path ('one')"}]
    for code in ("one", "two"):
        assert client.get(f"/v1/products/{code}", headers=auth(key)).status_code == 404
    bad_path = client.put("/v1/products/no spaces", headers=auth(key), json={"name": "x"})
    assert bad_path.status_code == 422 and bad_path.json()["errors"][0]["in"] == "path"


@pytest.mark.parametrize(("path", "body", "field", "pointer"), [
    ("/v1/products/p1", {"name": "P", "colour": "red"}, "colour", "/colour"),
    ("/v1/plans/p1", {"name": "P", "currency": "EUR", "charges": [
        {"code": "base", "product": "only-a-prod", "price": {"model": "flat", "amount": "1"}, "qty": "2"}]},
     "charges[0].qty", "/charges/0/qty"),
    ("/v1/customers/c1", {"name": "C", "currency": "EUR", "legal_entity": "only-a-le",
                          "billing_address": {"street": "Main St 1"}}, "billing_address.street",
     "/billing_address/street"),
])
def test_an_unknown_field_is_named(world, client, path, body, field, pointer):
    _, alpha, _ = world
    refused = client.put(path, headers=auth(alpha.keys["admin"]), json=body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["errors"][0]
    assert (error["field"], error["pointer"], error["in"]) == (field, pointer, "body")
    assert error["detail"].startswith("unknown field")
    assert client.get(path, headers=auth(alpha.keys["admin"])).status_code == 404


def test_money_and_dates_are_checked_as_the_document_does(world, client):
    _, alpha, _ = world
    key = alpha.keys["admin"]
    contract = {"customer": "only-a", "currency": "EUR", "versions": [
        {"effective_from": "2026-01-01", "plan": "only-a-plan", "minimum_commitment": 10.5}]}
    float_money = client.put("/v1/contracts/c-new", headers=auth(key), json=contract)
    assert float_money.status_code == 422
    assert float_money.json()["errors"][0]["pointer"] == "/versions/0/minimum_commitment"
    contract["versions"][0] |= {"minimum_commitment": "10.50", "effective_from": "2026-02-30"}
    no_such_day = client.put("/v1/contracts/c-new", headers=auth(key), json=contract)
    assert no_such_day.status_code == 422
    assert no_such_day.json()["errors"][0]["pointer"] == "/versions/0/effective_from"


def test_a_billed_subscription_keeps_its_terms_and_nothing_is_written(world, client):
    engine, alpha, _ = world
    key = alpha.keys["revops"]
    read = client.get("/v1/subscriptions/s-only-a", headers=auth(key))
    before = row_of(engine, subscriptions, alpha.id, "s-only-a")
    body = {**seeded_item("subscriptions", "s-only-a"), "interval": "annual", "start_date": "2026-08-01"}
    refused = client.put("/v1/subscriptions/s-only-a", headers=auth(key, **{"If-Match": read.headers["etag"]}),
                         json=body)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert {(e["field"], e["pointer"]) for e in refused.json()["errors"]} == {
        ("interval", "/interval"), ("start_date", "/start_date")}
    assert all("billed through 2026-09-01" in e["detail"] for e in refused.json()["errors"])
    assert "nothing was written" in refused.json()["detail"]
    assert row_of(engine, subscriptions, alpha.id, "s-only-a") == before
    assert client.get("/v1/subscriptions/s-only-a", headers=auth(key)).headers["etag"] == read.headers["etag"]


def test_a_contract_keeps_its_billed_history(world, client):
    _, alpha, _ = world
    key = alpha.keys["revops"]
    read = client.get("/v1/contracts/c-only-a", headers=auth(key))
    first = seeded_item("contracts", "c-only-a")["versions"][0]
    into_billed = {"customer": "only-a", "currency": "EUR",
                   "versions": [first, {"effective_from": "2026-08-15", "plan": "only-a-plan"}]}
    refused = client.put("/v1/contracts/c-only-a", headers=auth(key, **{"If-Match": read.headers["etag"]}),
                         json=into_billed)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/versions/1/effective_from"
    dropped = client.put("/v1/contracts/c-only-a", headers=auth(key, **{"If-Match": read.headers["etag"]}),
                         json={**into_billed, "versions": [{"effective_from": "2027-01-01", "plan": "only-a-plan"}]})
    assert dropped.status_code == 422 and dropped.json()["errors"][0]["field"] == "versions"

    amended = {**into_billed, "versions": [first, {"effective_from": "2026-12-01", "plan": "only-a-plan",
                                                   "discounts": [{"code": "LOYAL", "kind": "percent", "value": "5"}]}]}
    ok = client.put("/v1/contracts/c-only-a", headers=auth(key, **{"If-Match": read.headers["etag"]}), json=amended)
    assert ok.status_code == 200, ok.text
    assert [v["effective_from"] for v in ok.json()["versions"]] == ["2026-01-01", "2026-12-01"]
    assert ok.headers["etag"] != read.headers["etag"]


def test_a_role_without_catalog_write_is_refused(world, client):
    engine, alpha, _ = world
    before = row_of(engine, products, alpha.id, "only-a-prod")
    etag = client.get("/v1/products/only-a-prod", headers=auth(alpha.keys["finance"])).headers["etag"]
    for role in ("finance", "auditor", "support", "approver"):
        refused = client.put("/v1/products/only-a-prod", headers=auth(alpha.keys[role], **{"If-Match": etag}),
                             json={"name": "Not yours"})
        assert refused.status_code == 403, (role, refused.text)
        assert refused.json()["permission"] == "catalog.write"
        assert client.put("/v1/products/fresh", headers=auth(alpha.keys[role]), json={"name": "x"}).status_code == 403
    assert row_of(engine, products, alpha.id, "only-a-prod") == before
    assert client.get("/v1/products/fresh", headers=auth(alpha.keys["admin"])).status_code == 404


def test_a_put_acts_in_the_callers_tenant_only(world, client):
    """Alpha PUTs beta's product code: that creates alpha's own product; beta's stays exactly as it was."""
    engine, alpha, beta = world
    beta_before = row_of(engine, products, beta.id, "only-b-prod")
    beta_etag = client.get("/v1/products/only-b-prod", headers=auth(beta.keys["admin"])).headers["etag"]
    mine = client.put("/v1/products/only-b-prod", headers=auth(alpha.keys["admin"]), json={"name": "Alpha's"})
    assert mine.status_code == 201, mine.text
    assert mine.json()["id"] != beta_before["id"]
    assert row_of(engine, products, beta.id, "only-b-prod") == beta_before
    theirs = client.get("/v1/products/only-b-prod", headers=auth(beta.keys["admin"]))
    assert theirs.json()["name"] == "Only here" and theirs.headers["etag"] == beta_etag
    # a customer of alpha cannot point at beta's legal entity either
    cross = client.put("/v1/customers/x-ref", headers=auth(alpha.keys["admin"]),
                       json={"name": "X", "currency": "EUR", "legal_entity": "only-b-le"})
    assert cross.status_code == 422 and cross.json()["errors"][0]["field"] == "legal_entity"


def test_concurrent_updates_with_one_etag_let_exactly_one_through(world, live):
    """Four editors read the same version and update at once: the row lock and If-Match let one win."""
    _, alpha, _ = world
    headers = auth(alpha.keys["revops"])
    etag = httpx.get(f"{live.url}/v1/products/only-a-prod", headers=headers).headers["etag"]
    start, statuses = threading.Barrier(4), {}

    def edit(n: int) -> None:
        start.wait()
        response = httpx.put(f"{live.url}/v1/products/only-a-prod", headers={**headers, "If-Match": etag},
                             json={"name": f"Editor {n}"}, timeout=30)
        statuses[n] = response.status_code

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses.values()) == [200, 412, 412, 412], statuses
    winner = next(n for n, status in statuses.items() if status == 200)
    assert httpx.get(f"{live.url}/v1/products/only-a-prod", headers=headers).json()["name"] == f"Editor {winner}"


def test_put_routes_are_documented_with_their_bodies_and_permission(client):
    spec = client.get("/openapi.json").json()
    for kind, model in (("legal-entities", "LegalEntity"), ("customers", "Customer"), ("products", "Product"),
                        ("meters", "Meter"), ("plans", "Plan"), ("contracts", "Contract"),
                        ("subscriptions", "Subscription")):
        operation = spec["paths"][f"/v1/{kind}/{{code}}"]["put"]
        assert operation["x-permission"] == "catalog.write"
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}In"}
        for status in ("200", "201"):
            assert operation["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{model}"}
            assert "ETag" in operation["responses"][status]["headers"]
        assert {"412", "422", "428"} <= set(operation["responses"])


TOP_LEVEL = (models.LegalEntityIn, models.CustomerIn, models.ProductIn, models.MeterIn, models.PlanIn,
             models.ContractIn, models.SubscriptionIn)


@pytest.mark.parametrize(("model", "definition"), [
    (models.LegalEntityIn, "legal_entity"), (models.CustomerIn, "customer"), (models.ProductIn, "product"),
    (models.MeterIn, "meter"), (models.PlanIn, "plan"), (models.ChargeIn, "charge"),
    (models.ContractIn, "contract"), (models.ContractVersionIn, "contract_version"),
    (models.DiscountIn, "discount"), (models.SubscriptionIn, "subscription"), (models.AddressIn, "address"),
])
def test_put_bodies_have_the_fields_of_the_published_catalog_schema(model, definition):
    """A PUT body is that section's item: the same fields and the same required ones, except the code of a
    top-level record, which the path gives (a charge's or discount's code stays required)."""
    published = json.loads(resources.files("invoiceflow.schemas").joinpath("catalog.schema.json").read_text())
    item = published["$defs"][definition]
    assert set(model.model_fields) == set(item["properties"])
    required = {name for name, f in model.model_fields.items() if f.is_required()}
    assert required == set(item.get("required", [])) - ({"code"} if model in TOP_LEVEL else set())
