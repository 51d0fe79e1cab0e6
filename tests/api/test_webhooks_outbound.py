"""Outbound webhooks against a real local HTTP receiver (stdlib server in a thread) that verifies each
signature the way docs/webhooks.md tells integrators to: delivered and signed, 500 then 200 retried and
delivered once, 400 dead-lettered, redelivery, the delivery log with every attempt, events from the audit
hook, endpoint validation and tenant isolation. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import auth
from sqlalchemy import func, select

from api_seed import clock
from invoiceflow.audit.log import append_entry
from invoiceflow.effects import HandlerRegistry, InlineRunner, Permanent, enqueue
from invoiceflow.store.effects_tables import effects
from invoiceflow.webhooks.delivery import deliver


def signature_ok(secret: str, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md): HMAC-SHA256 over f"{t}.{body}", any v1 may match."""
    items = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [int(v) for k, v in items if k == "t"]
    if len(stamps) != 1 or abs(now - stamps[0]) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")


class Receiver:
    """A webhook receiver on a loopback port: answers each path with its scripted statuses (the last repeats)."""

    def __init__(self, now):
        self.now, self.requests, self.script, self.secrets = now, [], {}, {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                secret = receiver.secrets.get(self.path, "")
                receiver.requests.append({
                    "path": self.path, "headers": dict(self.headers), "body": json.loads(body),
                    "verified": signature_ok(secret, self.headers["Invoiceflow-Signature"], body,
                                             receiver.now().timestamp())})
                statuses = receiver.script.setdefault(self.path, [200])
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"thanks!" if status < 300 else b"nope!!!")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


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
    return InlineRunner(worker="test-runner").run_until_idle(engine, clock=runner_clock, handlers=registry or handlers())


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
    assert client.post(f"/v1/invoices/{invoice_id}/submit", headers=auth(tenant.keys["ada"]), json={}).status_code == 200
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
                         ("POST", f"{base}/deliveries/{delivery['id']}/redeliver")):
        response = client.request(method, path, headers=admin, json={"active": False} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/v1/webhook-endpoints", headers=admin).json()["data"] == []
    mine = endpoint(client, alpha, receiver, "/alpha", ["invoice.held"])
    other = f"/v1/webhook-endpoints/{mine['id']}/deliveries/{delivery['id']}/redeliver"
    assert client.post(other, headers=admin).status_code == 404  # beta's delivery under alpha's endpoint
    assert log_of(client, beta, theirs["id"])[0]["status"] == "succeeded"
