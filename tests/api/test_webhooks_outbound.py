"""Outbound webhooks against a real local HTTP receiver (stdlib server in a thread) that verifies each
signature the way docs/webhooks.md tells integrators to: delivered and signed, 500 then 200 retried and
delivered once, 400 dead-lettered, redelivery, the delivery log with every attempt, events from the audit
hook, endpoint validation, secret rotation with its grace period, tenant isolation, and an `invoiceflow
worker` started without options delivering them. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from conftest import auth
from sqlalchemy import func, select

from api_seed import CLOCK_AT, clock
from webhook_receiver import Receiver
from invoiceflow.audit.log import append_entry
from invoiceflow.clock import SystemClock
from invoiceflow.effects import HandlerRegistry, InlineRunner, Permanent, enqueue
from invoiceflow.store.effects_tables import effects
from invoiceflow.store.tables import audit_log
from invoiceflow.webhooks.delivery import deliver


@pytest.fixture
def runner_clock():
    return clock()


@pytest.fixture
def receiver(runner_clock):
    server = Receiver(runner_clock.now)
    yield server
    server.close()


def handlers() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register("webhook.deliver", deliver)
    return registry


def run(engine, runner_clock, registry=None):
    runner = InlineRunner(worker="test-runner")
    return runner.run_until_idle(engine, clock=runner_clock, handlers=registry or handlers())


def endpoint(client, tenant, receiver, path: str, event_types=("*",)) -> dict:
    response = client.post("/v1/webhook-endpoints", headers=auth(tenant.keys["admin"]),
                           json={"url": receiver.url + path, "event_types": list(event_types)})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    receiver.secrets[path] = created["secret"]
    return created


def hold_invoice(client, tenant, index: int = 0) -> int:
    """Submit an invoice, then reject it: it goes back to held, which is an invoice.held event."""
    invoice_id = tenant.invoices[index]
    submitted = client.post(f"/v1/invoices/{invoice_id}/submit", headers=auth(tenant.keys["ada"]), json={})
    assert submitted.status_code == 200, submitted.text
    rejected = client.post(f"/v1/invoices/{invoice_id}/reject", headers=auth(tenant.keys["fin"]),
                           json={"reason": "PO number missing"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "held", rejected.text
    return invoice_id


def log_of(client, tenant, endpoint_id: int) -> list[dict]:
    response = client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=auth(tenant.keys["auditor"]))
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_signed_delivery_and_its_log(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    created = endpoint(client, alpha, receiver, "/ok", ["invoice.held", "invoice.issued"])
    shown = client.get(f"/v1/webhook-endpoints/{created['id']}", headers=auth(alpha.keys["admin"]))
    assert "secret" not in shown.json() and created["secret"] not in shown.text
    invoice_id = hold_invoice(client, alpha)
    assert run(engine, runner_clock).succeeded == 1
    (request,) = receiver.requests
    assert request["verified"], request["headers"]
    event = request["body"]
    assert event["type"] == "invoice.held" and event["tenant"] == "alpha"
    assert event["data"]["id"] == invoice_id and event["data"]["status"] == "held"
    assert event["data"]["reason"] == "PO number missing" and isinstance(event["data"]["total"], str)
    assert request["headers"]["Invoiceflow-Event-Id"] == event["id"]
    assert request["headers"]["Content-Type"] == "application/json"
    (delivery,) = log_of(client, alpha, created["id"])
    assert delivery["status"] == "succeeded" and delivery["event_id"] == event["id"]
    (attempt,) = delivery["attempt_log"]
    assert attempt["outcome"] == "succeeded" and attempt["status_code"] == 200 and attempt["duration_ms"] >= 0
    assert attempt["response_excerpt"] == "thanks!"
    again = client.post(f"/v1/webhook-endpoints/{created['id']}/deliveries/{delivery['id']}/redeliver",
                        headers=auth(alpha.keys["admin"]))
    assert again.status_code == 200 and again.json()["status"] == "pending", again.text
    run(engine, runner_clock)
    assert [r["body"]["id"] for r in receiver.requests] == [event["id"]] * 2  # same event id: receivers dedupe
    assert len(log_of(client, alpha, created["id"])[0]["attempt_log"]) == 2


def test_server_error_then_success_is_retried_and_delivered_once(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    receiver.script["/flaky"] = [500, 200]
    created = endpoint(client, alpha, receiver, "/flaky", ["invoice.held"])
    hold_invoice(client, alpha)
    first = run(engine, runner_clock)
    assert first.retried == 1 and first.succeeded == 0
    (delivery,) = log_of(client, alpha, created["id"])
    assert delivery["status"] == "pending" and "HTTP 500" in delivery["last_error"]
    runner_clock.advance(timedelta(hours=13))  # past the longest backoff
    assert run(engine, runner_clock).succeeded == 1
    assert run(engine, runner_clock).succeeded == 0  # nothing left: delivered once
    assert [r["headers"]["Invoiceflow-Delivery-Attempt"] for r in receiver.requests] == ["1", "2"]
    assert all(r["verified"] for r in receiver.requests)  # the retry is signed anew, at its own time
    assert len({r["body"]["id"] for r in receiver.requests}) == 1
    (delivery,) = log_of(client, alpha, created["id"])
    assert delivery["status"] == "succeeded"
    assert [(a["outcome"], a["status_code"]) for a in delivery["attempt_log"]] == [("transient", 500),
                                                                                     ("succeeded", 200)]
    assert "HTTP 500" in delivery["attempt_log"][0]["error"]


def test_client_error_is_dead_lettered_then_redelivered(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    receiver.script["/strict"] = [400]
    created = endpoint(client, alpha, receiver, "/strict", ["invoice.held", "effect.dead_lettered"])
    hold_invoice(client, alpha)
    assert run(engine, runner_clock).dead == 1
    (delivery,) = log_of(client, alpha, created["id"])
    assert delivery["status"] == "dead" and delivery["last_error"].startswith("HTTP 400")
    with engine.connect() as conn:  # a dead webhook does not announce itself with another webhook
        assert conn.execute(select(func.count()).select_from(effects).where(
            effects.c.kind == "webhook.deliver", effects.c.tenant_id == alpha.id)).scalar() == 1
    receiver.script["/strict"] = [200]  # the receiver was fixed
    url = f"/v1/webhook-endpoints/{created['id']}/deliveries/{delivery['id']}/redeliver"
    assert client.post(url, headers=auth(alpha.keys["finance"])).status_code == 403
    assert client.post(url, headers=auth(alpha.keys["admin"])).json()["status"] == "pending"
    assert run(engine, runner_clock).succeeded == 1
    (delivery,) = log_of(client, alpha, created["id"])
    assert [(a["outcome"], a["status_code"]) for a in delivery["attempt_log"]] == [("permanent", 400),
                                                                                     ("succeeded", 200)]


def test_dead_lettered_effects_and_review_cases_become_events(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    created = endpoint(client, alpha, receiver, "/ops", ["effect.dead_lettered", "review_case.resolved"])
    registry = handlers()

    def fail(effect, context):
        raise Permanent("the ERP refused the account")

    registry.register("test.fail", fail)
    with engine.begin() as conn:
        failing = enqueue(conn, alpha.id, "test.fail", target="erp", payload={}, idempotency_key="fail-1",
                          at=runner_clock.now())
        append_entry(conn, tenant_id=alpha.id, actor="rita", action="case.resolved", object_type="review_case",
                     object_id=alpha.cases[0], payload={"resolution": "override", "reason": "ok"},
                     at=runner_clock.now())
    run(engine, runner_clock, registry)
    run(engine, runner_clock, registry)  # the dead letter's own delivery
    types = {r["body"]["type"]: r["body"]["data"] for r in receiver.requests}
    assert types["effect.dead_lettered"]["id"] == failing.id
    assert types["effect.dead_lettered"]["error"].startswith("the ERP refused the account")
    assert types["review_case.resolved"]["id"] == alpha.cases[0]
    assert types["review_case.resolved"]["queue"]
    assert len(log_of(client, alpha, created["id"])) == 2


def test_endpoint_validation_update_and_delete(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    admin = auth(alpha.keys["admin"])
    bad = client.post("/v1/webhook-endpoints", headers=admin,
                      json={"url": "http://example.com/hook", "event_types": ["invoice.exploded"]})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"url", "event_types"}
    assert client.post("/v1/webhook-endpoints", headers=auth(alpha.keys["finance"]),
                       json={"url": receiver.url, "event_types": ["*"]}).status_code == 403
    created = endpoint(client, alpha, receiver, "/gone", ["invoice.issued"])
    patched = client.patch(f"/v1/webhook-endpoints/{created['id']}", headers=admin,
                           json={"event_types": ["invoice.held"], "description": "finance bot"})
    assert patched.status_code == 200 and patched.json()["event_types"] == ["invoice.held"], patched.text
    hold_invoice(client, alpha)
    assert client.delete(f"/v1/webhook-endpoints/{created['id']}", headers=admin).json() == {"ok": True}
    assert client.get(f"/v1/webhook-endpoints/{created['id']}", headers=admin).status_code == 404
    assert run(engine, runner_clock).succeeded == 1  # the waiting delivery is skipped, not sent
    assert receiver.requests == []
    listed = client.get("/v1/webhook-endpoints", headers=auth(alpha.keys["auditor"])).json()["data"]
    assert created["id"] not in [e["id"] for e in listed]


def test_endpoints_and_deliveries_are_tenant_isolated(world, client, receiver, runner_clock):
    engine, alpha, beta = world
    theirs = endpoint(client, beta, receiver, "/beta", ["invoice.held"])
    hold_invoice(client, beta)
    run(engine, runner_clock)
    (delivery,) = log_of(client, beta, theirs["id"])
    admin = auth(alpha.keys["admin"])
    base = f"/v1/webhook-endpoints/{theirs['id']}"
    for method, path in (("GET", base), ("PATCH", base), ("DELETE", base), ("GET", f"{base}/deliveries"),
                         ("POST", f"{base}/deliveries/{delivery['id']}/redeliver"), ("POST", f"{base}/rotate-secret")):
        response = client.request(method, path, headers=admin, json={"active": False} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/v1/webhook-endpoints", headers=admin).json()["data"] == []
    mine = endpoint(client, alpha, receiver, "/alpha", ["invoice.held"])
    other = f"/v1/webhook-endpoints/{mine['id']}/deliveries/{delivery['id']}/redeliver"
    assert client.post(other, headers=admin).status_code == 404  # beta's delivery under alpha's endpoint
    assert log_of(client, beta, theirs["id"])[0]["status"] == "succeeded"
    client.post(f"{base}/deliveries/{delivery['id']}/redeliver", headers=auth(beta.keys["admin"]))
    run(engine, runner_clock)
    assert signatures(receiver.requests[-1]) == 1 and receiver.requests[-1]["verified"]  # beta's secret unchanged


def signatures(request: dict) -> int:
    return request["headers"]["Invoiceflow-Signature"].count("v1=")


def rotate(client, tenant, endpoint_id: int, role: str = "admin", **kwargs):
    return client.post(f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", headers=auth(tenant.keys[role]), **kwargs)


def rotations(engine, tenant_id: int) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(audit_log).where(
            audit_log.c.tenant_id == tenant_id, audit_log.c.action == "webhook_endpoint.secret_rotated")).mappings()]


def test_rotation_signs_with_both_secrets_until_the_grace_period_ends(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    created = endpoint(client, alpha, receiver, "/rotating", ["invoice.held"])
    old = created["secret"]
    answer = rotate(client, alpha, created["id"])
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old
    assert (rotated["id"], rotated["url"], rotated["event_types"]) == (created["id"], created["url"], ["invoice.held"])
    until = CLOCK_AT + timedelta(hours=24)
    assert datetime.fromisoformat(rotated["previous_secret_valid_until"]) == until
    shown = client.get(f"/v1/webhook-endpoints/{created['id']}", headers=auth(alpha.keys["auditor"]))
    assert "secret" not in shown.json() and new not in shown.text and old not in shown.text
    assert datetime.fromisoformat(shown.json()["previous_secret_valid_until"]) == until

    hold_invoice(client, alpha)
    run(engine, runner_clock)
    (during,) = receiver.requests
    assert signatures(during) == 2
    assert receiver.verifies(during, new) and receiver.verifies(during, old)  # receivers on either secret

    runner_clock.advance(timedelta(hours=24, seconds=1))
    (delivery,) = log_of(client, alpha, created["id"])
    client.post(f"/v1/webhook-endpoints/{created['id']}/deliveries/{delivery['id']}/redeliver",
                headers=auth(alpha.keys["admin"]))
    run(engine, runner_clock)
    after = receiver.requests[-1]
    assert signatures(after) == 1
    assert receiver.verifies(after, new) and not receiver.verifies(after, old)

    (entry,) = rotations(engine, alpha.id)
    assert (entry["actor"], entry["object_id"]) == ("admin-user", str(created["id"]))
    assert entry["payload"]["grace_seconds"] == 86400
    assert new not in str(entry["payload"]) and old not in str(entry["payload"])


def test_rotation_grace_bounds_permission_and_immediate_retirement(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    created = endpoint(client, alpha, receiver, "/retire", ["invoice.held"])
    for body in ({"grace_seconds": -1}, {"grace_seconds": 7 * 86400 + 1}, {"grace": 60}):
        refused = rotate(client, alpha, created["id"], json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    for role in ("finance", "revops", "auditor"):
        assert rotate(client, alpha, created["id"], role).status_code == 403
    assert rotations(engine, alpha.id) == []

    answer = rotate(client, alpha, created["id"], json={"grace_seconds": 0, "reason": "leaked in a proxy log"})
    assert answer.status_code == 200 and answer.json()["previous_secret_valid_until"] is None, answer.text
    hold_invoice(client, alpha)
    run(engine, runner_clock)
    (request,) = receiver.requests
    assert signatures(request) == 1
    assert receiver.verifies(request, answer.json()["secret"]) and not receiver.verifies(request, created["secret"])
    assert rotations(engine, alpha.id)[0]["payload"]["reason"] == "leaked in a proxy log"


def test_a_second_rotation_retires_the_oldest_secret(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    created = endpoint(client, alpha, receiver, "/twice", ["invoice.held"])
    second = rotate(client, alpha, created["id"]).json()["secret"]
    third = rotate(client, alpha, created["id"], json={"grace_seconds": 3600}).json()["secret"]
    hold_invoice(client, alpha)
    run(engine, runner_clock)
    (request,) = receiver.requests
    assert signatures(request) == 2
    assert receiver.verifies(request, third) and receiver.verifies(request, second)
    assert not receiver.verifies(request, created["secret"])


def test_rotation_is_idempotent_by_key(world, client, receiver, runner_clock):
    engine, alpha, _ = world
    created = endpoint(client, alpha, receiver, "/idem", ["invoice.held"])
    key = {"Idempotency-Key": "rotate-2026-09"}
    url = f"/v1/webhook-endpoints/{created['id']}/rotate-secret"
    first = client.post(url, headers=auth(alpha.keys["admin"], **key), json={"grace_seconds": 600})
    again = client.post(url, headers=auth(alpha.keys["admin"], **key), json={"grace_seconds": 600})
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = client.post(url, headers=auth(alpha.keys["admin"], **key), json={"grace_seconds": 60})
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    assert len(rotations(engine, alpha.id)) == 1  # the replay did not rotate again
    hold_invoice(client, alpha)
    run(engine, runner_clock)
    assert receiver.verifies(receiver.requests[0], first.json()["secret"])


@pytest.mark.slow
def test_a_worker_started_without_options_delivers_webhooks(world, client, db_url):
    """`invoiceflow worker --once` with no --handlers: the webhook handler is built in."""
    engine, alpha, _ = world
    receiver = Receiver(SystemClock().now)  # the worker signs with the wall clock
    try:
        created = endpoint(client, alpha, receiver, "/worker", ["invoice.held"])
        hold_invoice(client, alpha)
        env = {k: v for k, v in os.environ.items() if k != "INVOICEFLOW_EFFECT_HANDLERS"}
        worker = subprocess.run([sys.executable, "-m", "invoiceflow.cli", "worker", "--once"], capture_output=True,
                                text=True, timeout=180, env={**env, "INVOICEFLOW_DATABASE_URL": db_url})
        assert worker.returncode == 0, worker.stderr
        assert "effect kinds: email.send, erp.post, webhook.deliver" in worker.stderr
        (request,) = receiver.requests
        assert request["verified"] and request["body"]["type"] == "invoice.held"
        assert log_of(client, alpha, created["id"])[0]["status"] == "succeeded"
    finally:
        receiver.close()
