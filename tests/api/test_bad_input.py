"""Bad input gets a 4xx problem document naming the field, and a rejected batch writes nothing."""

from __future__ import annotations

from conftest import auth
from test_idempotency import batch, events_count


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    return body


def fields(body: dict) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


def test_malformed_json(world, client):
    _, alpha, _ = world
    response = client.post("/v1/usage-events/batch", content=b'{"events": [', headers=auth(
        alpha.keys["revops"], **{"Content-Type": "application/json"}))
    body = problem(response, 400)
    assert body["type"].endswith("/malformed-json")


def test_wrong_types_and_missing_fields_are_named(world, client):
    _, alpha, _ = world
    body = batch("wt", 3)
    body["events"][1]["value"] = {"not": "a number"}
    del body["events"][2]["metric"]
    body["events"][0]["transaction_id"] = 12
    found = problem(client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"]), json=body), 422)
    assert {"events[1].value", "events[2].metric", "events[0].transaction_id"} <= fields(found)
    pointers = {e["pointer"] for e in found["errors"]}
    assert "/events/2/metric" in pointers


def test_unknown_fields_are_refused_on_writes(world, client):
    _, alpha, _ = world
    body = batch("uf", 2)
    body["events"][1]["colour"] = "red"
    found = problem(client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"]), json=body), 422)
    assert fields(found) == {"events[1].colour"}
    assert "unknown field" in found["errors"][0]["detail"]
    found = problem(client.post("/v1/catalog", headers=auth(alpha.keys["admin"]), json={"prodcts": []}), 422)
    assert fields(found) == {"prodcts"}
    found = problem(client.post(f"/v1/cases/{alpha.cases[0]}/resolve", headers=auth(alpha.keys["admin"]),
                                json={"action": "override", "reason": "x", "force": True}), 422)
    assert fields(found) == {"force"}


def test_invalid_enums(world, client):
    _, alpha, _ = world
    found = problem(client.post(f"/v1/cases/{alpha.cases[0]}/resolve", headers=auth(alpha.keys["admin"]),
                                json={"action": "ignore", "reason": "x"}), 422)
    assert fields(found) == {"action"}
    found = problem(client.get("/v1/invoices?status=lost", headers=auth(alpha.keys["admin"])), 422)
    assert fields(found) == {"status"} and found["errors"][0]["in"] == "query"
    found = problem(client.get("/v1/queues/legal/cases", headers=auth(alpha.keys["admin"])), 422)
    assert fields(found) == {"queue"}


def test_oversized_batch_writes_nothing(world, client):
    engine, alpha, _ = world
    found = problem(client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"]),
                                json=batch("big", 10_001)), 422)
    assert fields(found) == {"events"}
    assert events_count(engine, alpha.id) == 3


def test_a_batch_with_one_bad_event_writes_nothing(world, client):
    engine, alpha, _ = world
    body = batch("aon", 50)
    body["events"][37]["timestamp"] = "2026-09-01 11:00"  # no offset: the domain refuses it
    body["events"][12]["customer"] = "nobody"
    found = problem(client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"]), json=body), 422)
    assert {"events[37].timestamp", "events[12].customer"} <= fields(found)
    assert "/events/37/timestamp" in {e["pointer"] for e in found["errors"]}
    assert "nothing was written" in found["detail"]
    assert events_count(engine, alpha.id) == 3


def test_float_values_with_more_than_six_decimals_are_refused(world, client):
    _, alpha, _ = world
    body = batch("prec", 1)
    body["events"][0]["value"] = "0.0000001"
    found = problem(client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"]), json=body), 422)
    assert fields(found) == {"events[0].value"}


def test_bad_cursor_and_limit(world, client):
    _, alpha, _ = world
    assert fields(problem(client.get("/v1/customers?cursor=garbage", headers=auth(alpha.keys["admin"])), 422)) \
        == {"cursor"}
    other = client.get("/v1/products?limit=1", headers=auth(alpha.keys["admin"])).json()["next_cursor"]
    assert fields(problem(client.get(f"/v1/customers?cursor={other}", headers=auth(alpha.keys["admin"])), 422)) \
        == {"cursor"}
    assert fields(problem(client.get("/v1/customers?limit=0", headers=auth(alpha.keys["admin"])), 422)) == {"limit"}


def test_unknown_routes_and_methods_are_problems(world, client):
    _, alpha, _ = world
    problem(client.get("/v1/nothing-here", headers=auth(alpha.keys["admin"])), 404)
    problem(client.delete("/v1/customers", headers=auth(alpha.keys["admin"])), 405)


def test_pagination_walks_every_item_once(world, client):
    _, alpha, _ = world
    seen, cursor = [], None
    while True:
        url = "/v1/customers?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=auth(alpha.keys["admin"])).json()
        seen += [c["code"] for c in page["data"]]
        cursor = page["next_cursor"]
        assert page["has_more"] == (cursor is not None)
        if cursor is None:
            break
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 5


def test_batch_items_are_checked_by_the_ingestion_rules(world, client):
    """The batch envelope is checked first (each item an object), then every event by the ingestion's
    own parser: a float value and an over-long transaction id are named with why, and nothing is written."""
    engine, alpha, _ = world
    body = batch("rules", 3)
    body["events"][0]["value"] = 1.5
    body["events"][2]["transaction_id"] = "x" * 129
    found = problem(client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"]), json=body), 422)
    details = {e["field"]: e["detail"] for e in found["errors"]}
    assert "float" in details["events[0].value"] and "129" in details["events[2].transaction_id"]
    body["events"][1] = "not an object"
    found = problem(client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"]), json=body), 422)
    assert {e["pointer"] for e in found["errors"]} == {"/events/1"}
    assert events_count(engine, alpha.id) == 3


def test_oversized_bodies_are_refused_before_anything_reads_them(world):
    """POST, PUT and PATCH bodies over the configured limit get 413, whatever the endpoint."""
    from conftest import settings
    from fastapi.testclient import TestClient

    from api_seed import clock
    from invoiceflow.api import create_app

    engine, alpha, _ = world
    small = create_app(engine, settings=settings(max_body_bytes=2_000), clock=clock())
    big = {"name": "x" * 3_000, "currency": "EUR", "legal_entity": "only-a-le"}
    with TestClient(small, raise_server_exceptions=False) as client:
        for method, path, body in (("POST", "/v1/usage-events/batch", {"events": [{"note": "x" * 3_000}]}),
                                   ("PUT", "/v1/customers/only-a", big),
                                   ("PATCH", "/v1/webhook-endpoints/1", {"description": "x" * 3_000})):
            found = problem(client.request(method, path, headers=auth(alpha.keys["admin"]), json=body), 413)
            assert "2000 bytes" in found["detail"], (method, path)
    assert events_count(engine, alpha.id) == 3
