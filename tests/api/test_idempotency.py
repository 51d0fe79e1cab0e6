"""Idempotency-Key: same key and body replay the first response; another body is refused; concurrent
duplicates run once; refusals decided before the operation are not kept."""

from __future__ import annotations

import threading
import uuid

import httpx
from conftest import auth
from sqlalchemy import func, select

from invoiceflow.store.api_tables import idempotency_keys
from invoiceflow.store.tables import usage_events


def batch(prefix: str, n: int, only: str = "only-a") -> dict:
    return {"events": [{"transaction_id": f"{prefix}-{i}", "customer": only, "metric": f"{only}_meter",
                        "timestamp": "2026-09-01T11:00:00Z", "value": "2.5"} for i in range(n)]}


def events_count(engine, tenant_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(usage_events)
                            .where(usage_events.c.tenant_id == tenant_id)).scalar_one()


def test_same_key_same_body_replays_the_first_response(world, client):
    engine, alpha, _ = world
    headers = auth(alpha.keys["revops"], **{"Idempotency-Key": "k-1"})
    first = client.post("/v1/usage-events/batch", headers=headers, json=batch("idem", 5))
    assert first.status_code == 200 and first.json()["inserted"] == 5
    # the same body spelt differently (key order, whitespace) is the same request
    body = batch("idem", 5)
    body["events"] = [dict(reversed(list(e.items()))) for e in body["events"]]
    again = client.post("/v1/usage-events/batch", headers=headers, json=body)
    assert again.status_code == 200
    assert again.json() == first.json()  # inserted 5, not "5 duplicates": the stored response
    assert again.headers["idempotent-replayed"] == "true"
    assert events_count(engine, alpha.id) == 3 + 5


def test_same_key_different_body_is_refused(world, client):
    _, alpha, _ = world
    headers = auth(alpha.keys["revops"], **{"Idempotency-Key": "k-2"})
    assert client.post("/v1/usage-events/batch", headers=headers, json=batch("a", 1)).status_code == 200
    other = client.post("/v1/usage-events/batch", headers=headers, json=batch("b", 1))
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    problem = other.json()
    assert problem["type"].endswith("/idempotency-key-reused")
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    elsewhere = client.post("/v1/bill-runs", headers=headers, json={"period": "2026-09"})
    assert elsewhere.status_code == 422  # same key on another endpoint is another request too


def test_keys_are_per_tenant(world, client):
    _, alpha, beta = world
    a = client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"], **{"Idempotency-Key": "shared"}),
                    json=batch("t", 1))
    b = client.post("/v1/usage-events/batch", headers=auth(beta.keys["revops"], **{"Idempotency-Key": "shared"}),
                    json=batch("t", 1, only="only-b"))
    assert (a.status_code, b.status_code) == (200, 200)
    assert "idempotent-replayed" not in b.headers


def test_refusals_before_the_operation_are_not_kept(world, client):
    engine, alpha, _ = world
    key = {"Idempotency-Key": "k-3"}
    bad = client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"], **key), json={"events": "x"})
    assert bad.status_code == 422
    denied = client.post("/v1/usage-events/batch", headers=auth(alpha.keys["auditor"], **key), json=batch("d", 1))
    assert denied.status_code == 403
    ok = client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"], **key), json=batch("d", 1))
    assert ok.status_code == 200 and ok.json()["inserted"] == 1


def test_domain_refusals_are_kept(world, client):
    """A refusal the operation itself decided (unknown customer) is the request's outcome: replayed."""
    _, alpha, _ = world
    headers = auth(alpha.keys["revops"], **{"Idempotency-Key": "k-4"})
    body = batch("u", 1, only="nobody")
    first = client.post("/v1/usage-events/batch", headers=headers, json=body)
    assert first.status_code == 422
    again = client.post("/v1/usage-events/batch", headers=headers, json=body)
    assert again.status_code == 422 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


def test_keys_are_kept_at_least_24_hours(world, client):
    engine, alpha, _ = world
    client.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"], **{"Idempotency-Key": "k-5"}),
                json=batch("e", 1))
    with engine.connect() as conn:
        row = conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == "k-5")).mappings().one()
    assert (row["expires_at"] - row["created_at"]).total_seconds() >= 24 * 3600
    assert row["status_code"] == 200 and row["tenant_id"] == alpha.id


def test_concurrent_duplicates_run_once(world, live):
    """Eight clients send the same key and batch at the same moment: one runs, the others get its stored
    response or 409 (in progress, with Retry-After); the events exist once; a retry replays."""
    engine, alpha, _ = world
    key = str(uuid.uuid4())
    body = batch("conc", 200)
    headers = auth(alpha.keys["revops"], **{"Idempotency-Key": key})
    start = threading.Barrier(8)
    results: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(base_url=live.url, timeout=60) as http:
            start.wait()
            results.append(http.post("/v1/usage-events/batch", headers=headers, json=body))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {200, 409}, statuses
    done = [r for r in results if r.status_code == 200]
    assert done and all(r.json() == done[0].json() for r in done)
    assert done[0].json()["inserted"] == 200
    assert sum(1 for r in done if "idempotent-replayed" not in r.headers) == 1  # exactly one ran
    for r in results:
        if r.status_code == 409:
            assert r.headers["retry-after"] == "1"
    assert events_count(engine, alpha.id) == 3 + 200
    with httpx.Client(base_url=live.url, timeout=60) as http:
        retry = http.post("/v1/usage-events/batch", headers=headers, json=body)
    assert retry.status_code == 200 and retry.json() == done[0].json()


def test_concurrent_requests_without_a_key_still_never_double_events(world, live):
    engine, alpha, _ = world
    body = batch("nokey", 100)
    results: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(base_url=live.url, timeout=60) as http:
            results.append(http.post("/v1/usage-events/batch", headers=auth(alpha.keys["revops"]), json=body))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sum(r.json()["inserted"] for r in results) == 100
    assert events_count(engine, alpha.id) == 3 + 100
