"""Inbound webhooks: signatures (valid, wrong secret, expired, replayed, tampered, Stripe's several v1),
idempotent event ids, schema drift (unknown fields recorded, missing fields parked), mapping and replay,
and the processing of each source (contracts, usage, payments). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal

from conftest import auth
from sqlalchemy import func, select

from api_seed import CLOCK_AT
from invoiceflow.lifecycle.service import transition
from invoiceflow.store.tables import audit_log, usage_events
from invoiceflow.store.webhook_tables import inbound_events
from invoiceflow.webhooks.signatures import compute, sign

NOW = int(CLOCK_AT.timestamp())  # the app's frozen clock
SECRETS = {"crm": "crm-secret-0123456789abcdef", "psa": "psa-secret-0123456789abcdef",
           "payments": "whsec_stripe_0123456789abcdef"}
HEADERS = {"crm": "Invoiceflow-Signature", "psa": "Invoiceflow-Signature", "payments": "Stripe-Signature"}


def configure(client, tenant, source: str, secret: str | None = None) -> None:
    response = client.put(f"/v1/integrations/{source}", headers=auth(tenant.keys["admin"]),
                          json={"secret": secret or SECRETS[source]})
    assert response.status_code == 200, response.text
    assert secret or SECRETS[source] not in response.text  # never echoed


def deliver(client, source: str, event: dict | bytes, *, tenant: str = "alpha", secret: str | None = None,
            at: int = NOW, header: str | None = None, body: bytes | None = None):
    raw = event if isinstance(event, bytes) else json.dumps(event).encode()
    signed = header or sign(secret or SECRETS[source], at, raw)
    return client.post(f"/v1/integrations/{source}/events?tenant={tenant}", content=body if body is not None else raw,
                       headers={HEADERS[source]: signed, "Content-Type": "application/json"})


def opportunity(event_id: str = "crm-evt-1", contract: str = "c-crm-1", **fields) -> dict:
    opp = {"Id": "006A", "Name": "Alpha expansion", "StageName": "Closed Won", "AccountNumber": "only-a",
           "ContractNumber": contract, "PlanCode": "only-a-plan", "EffectiveDate": "2026-10-01",
           "CurrencyIsoCode": "EUR", **fields}
    return {"id": event_id, "type": "opportunity.closed_won", "created": "2026-09-02T08:59:00Z", "opportunity": opp}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def test_valid_signature_creates_the_contract(world, client):
    _, alpha, _ = world
    configure(client, alpha, "crm")
    event = opportunity(LineItems=[{"ChargeCode": "base", "UnitPrice": "250.00"}])
    response = deliver(client, "crm", event)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "accepted" and body["event_id"] == "crm-evt-1"
    assert body["result"]["action"] == "contract_created" and body["result"]["price_overrides"] == ["base"]
    contract = client.get("/v1/contracts/c-crm-1", headers=auth(alpha.keys["admin"])).json()
    assert contract["customer"] == "only-a"
    assert contract["versions"][0]["terms"]["price_overrides"] == {"base": {"model": "flat", "amount": "250.00"}}


def test_forgeries_and_stale_requests_are_refused(world, client):
    engine, alpha, _ = world
    configure(client, alpha, "crm")
    event = opportunity("crm-evt-2", "c-crm-2")
    raw = json.dumps(event).encode()
    cases = {
        "mismatch": deliver(client, "crm", event, secret="not-the-secret-0123456789"),  # wrong secret
        "expired": deliver(client, "crm", event, at=NOW - 301),  # valid signature, too old
        "expired ": deliver(client, "crm", event, at=NOW + 301),  # or too far ahead
        "mismatch ": deliver(client, "crm", event, body=raw.replace(b"only-a-plan", b"only-a-plaX")),  # tampered
        "malformed": deliver(client, "crm", event, header="v1=abc"),
    }
    for reason, response in cases.items():
        body = problem(response, 401)
        assert body["type"].endswith("/signature-invalid") and body["reason"] == reason.strip(), (reason, body)
        assert response.headers["www-authenticate"].startswith("Invoiceflow-Signature")
    assert "tolerance of 300 s" in problem(cases["expired"], 401)["detail"]
    missing = client.post("/v1/integrations/crm/events?tenant=alpha", content=raw)  # no signature, no key
    assert problem(missing, 401)["type"].endswith("/unauthenticated")
    assert problem(deliver(client, "crm", event, tenant="nobody"), 401)["reason"] == "unconfigured"
    assert client.get("/v1/contracts/c-crm-2", headers=auth(alpha.keys["admin"])).status_code == 404
    rejected = client.get("/v1/integrations/crm/events?status=rejected", headers=auth(alpha.keys["admin"])).json()
    assert len(rejected["data"]) == 5 and not any(e["signature_ok"] for e in rejected["data"])
    with engine.connect() as conn:  # a forgery's body is never stored
        assert conn.execute(select(func.count()).select_from(inbound_events).where(
            inbound_events.c.payload.is_not(None), inbound_events.c.signature_ok.is_(False))).scalar() == 0


def test_an_api_key_cannot_post_events(world, client):
    _, alpha, _ = world
    configure(client, alpha, "crm")
    response = client.post("/v1/integrations/crm/events?tenant=alpha", json=opportunity(),
                           headers=auth(alpha.keys["admin"]))
    assert problem(response, 403)["permission"] == "integrations.receive"


def test_a_replayed_event_id_is_processed_once(world, client):
    engine, alpha, _ = world
    configure(client, alpha, "crm")
    event = opportunity("crm-evt-3", "c-crm-3")
    first = deliver(client, "crm", event)
    again = deliver(client, "crm", event)  # the same signed request, captured and sent again
    later = deliver(client, "crm", event, at=NOW + 60)  # or the sender's retry, signed anew
    assert first.json()["status"] == "accepted"
    for response in (again, later):
        assert response.status_code == 200 and response.json()["status"] == "duplicate", response.text
    with engine.connect() as conn:
        processed = conn.execute(select(func.count()).select_from(audit_log).where(
            audit_log.c.action == "integration.event_processed", audit_log.c.tenant_id == alpha.id)).scalar()
    assert processed == 1


def test_stripe_signature_with_several_v1_values(world, client):
    _, alpha, _ = world
    configure(client, alpha, "payments")
    event = stripe_event("evt_multi", "customer.created", {"id": "cus_1", "object": "customer"})
    raw = json.dumps(event).encode()
    header = (f"t={NOW},v1={compute('whsec_old_secret_0123456789', NOW, raw)},"
              f"v0={'0' * 64},v1={compute(SECRETS['payments'], NOW, raw)}")
    response = deliver(client, "payments", raw, header=header)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["action"] == "ignored"  # a type invoiceflow does not act on
    only_old = f"t={NOW},v1={compute('whsec_old_secret_0123456789', NOW, raw)}"
    assert problem(deliver(client, "payments", raw, header=only_old), 401)["reason"] == "mismatch"


def test_secret_rotation_keeps_the_previous_secret_for_a_while(world, client):
    _, alpha, _ = world
    configure(client, alpha, "crm")
    configure(client, alpha, "crm", secret="crm-new-secret-0123456789abcdef")
    config = client.get("/v1/integrations/crm", headers=auth(alpha.keys["auditor"])).json()
    assert config["secret_hint"] == "…cdef" and config["previous_secret_valid_until"]
    assert deliver(client, "crm", opportunity("crm-evt-r1", "c-crm-r1")).status_code == 200  # old secret
    assert deliver(client, "crm", opportunity("crm-evt-r2", "c-crm-r2"),
                   secret="crm-new-secret-0123456789abcdef").status_code == 200


def test_drift_unknown_fields_are_recorded_and_reported(world, client):
    _, alpha, _ = world
    configure(client, alpha, "crm")
    for n in (1, 2):
        event = opportunity(f"crm-evt-u{n}", f"c-crm-u{n}", Discount_Reason__c="loyalty")
        response = deliver(client, "crm", event)
        assert response.status_code == 200 and response.json()["unknown_fields"] == ["opportunity.Discount_Reason__c"]
    report = client.get("/v1/integrations/crm/drift", headers=auth(alpha.keys["auditor"])).json()
    (field,) = report["fields"]
    assert field["field"] == "opportunity.Discount_Reason__c" and field["kind"] == "unknown"
    assert field["count"] == 2 and field["sample"] == '"loyalty"' and field["schema_version"] == "crm-opportunity-v1"


def test_missing_field_is_parked_then_replayed_after_the_mapping_is_fixed(world, client):
    _, alpha, _ = world
    configure(client, alpha, "crm")
    event = opportunity("crm-evt-m", "c-crm-m")
    event["opportunity"]["Plan_Code__c"] = event["opportunity"].pop("PlanCode")  # renamed in the CRM
    body = problem(deliver(client, "crm", event), 422)
    assert body["type"].endswith("/event-parked") and body["event_status"] == "parked"
    (error,) = body["errors"]
    assert error["field"] == "opportunity.PlanCode" and error["pointer"] == "/opportunity/PlanCode"
    assert "Plan_Code__c" in error["detail"]
    admin = auth(alpha.keys["admin"])
    stored = client.get("/v1/integrations/crm/events/crm-evt-m", headers=admin).json()
    assert stored["status"] == "parked" and stored["payload"]["opportunity"]["Plan_Code__c"] == "only-a-plan"
    report = client.get("/v1/integrations/crm/drift", headers=admin).json()
    assert report["parked_events"] == 1 and report["suggested_mapping"] == {"Plan_Code__c": "PlanCode"}
    assert {(f["field"], f["kind"]) for f in report["fields"]} == {
        ("opportunity.PlanCode", "renamed"), ("opportunity.Plan_Code__c", "unknown")}
    assert problem(client.post("/v1/integrations/crm/events/crm-evt-m/replay", headers=admin), 422)["errors"]
    mapping = client.get("/v1/integrations/crm/mapping", headers=admin)
    assert problem(client.put("/v1/integrations/crm/mapping", headers=admin, json={"fields": {}}), 428)
    fixed = client.put("/v1/integrations/crm/mapping", json={"fields": report["suggested_mapping"]},
                       headers=auth(alpha.keys["rev"], **{"If-Match": mapping.headers["etag"]}))
    assert fixed.status_code == 200 and fixed.json()["version"] == 1, fixed.text
    stale = client.put("/v1/integrations/crm/mapping", json={"fields": {}},
                       headers=auth(alpha.keys["admin"], **{"If-Match": mapping.headers["etag"]}))
    assert problem(stale, 412)
    replayed = client.post("/v1/integrations/crm/events/crm-evt-m/replay", headers=admin)
    assert replayed.status_code == 200 and replayed.json()["status"] == "replayed", replayed.text
    assert client.get("/v1/contracts/c-crm-m", headers=admin).status_code == 200
    assert problem(client.post("/v1/integrations/crm/events/crm-evt-m/replay", headers=admin), 409)
    assert deliver(client, "crm", event).json()["status"] == "duplicate"


def test_bad_mapping_is_refused_with_each_entry_named(world, client):
    _, alpha, _ = world
    etag = client.get("/v1/integrations/psa/mapping", headers=auth(alpha.keys["admin"])).headers["etag"]
    response = client.put("/v1/integrations/psa/mapping", json={"fields": {"a b": "x", "y": "y"}},
                          headers=auth(alpha.keys["admin"], **{"If-Match": etag}))
    assert {e["field"] for e in problem(response, 422)["errors"]} >= {"fields.a b", "fields.y"}


def test_psa_time_entry_parks_until_the_meter_exists(world, client):
    engine, alpha, _ = world
    configure(client, alpha, "psa")
    event = {"id": "psa-evt-1", "type": "time_entry.approved", "created": "2026-09-02T08:00:00Z",
             "time_entry": {"id": "te-1", "customer": "only-a", "project": "Rollout", "person": "kim",
                            "hours": 1.25, "started_at": "2026-09-01T09:00:00Z", "billable": True}}
    body = problem(deliver(client, "psa", event), 422)
    assert "no meter 'hours'" in body["detail"] and body["errors"][0]["field"] == "time_entry.hours"
    admin = auth(alpha.keys["admin"])
    added = client.post("/v1/catalog", headers=admin,
                        json={"meters": [{"code": "hours", "name": "Hours", "aggregation": "sum"}]})
    assert added.status_code in (200, 201), added.text
    replayed = client.post("/v1/integrations/psa/events/psa-evt-1/replay", headers=admin)
    assert replayed.status_code == 200 and replayed.json()["result"]["quantity"] == "1.25", replayed.text
    usage = client.get("/v1/usage-events/psa:time_entry:te-1", headers=admin)
    assert usage.status_code == 200, usage.text
    milestone = {"id": "psa-evt-2", "type": "milestone.completed", "created": "2026-09-02T08:00:00Z",
                 "milestone": {"id": "ms-1", "customer": "only-a", "name": "Go-live", "completed_at": "2026-09-01T17:00:00Z"}}
    assert "milestones" in problem(deliver(client, "psa", milestone), 422)["detail"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(usage_events).where(
            usage_events.c.transaction_id.like("psa:%"))).scalar() == 1


def stripe_event(event_id: str, kind: str, obj: dict) -> dict:
    return {"id": event_id, "object": "event", "api_version": "2024-06-20", "created": NOW - 30,
            "livemode": False, "pending_webhooks": 1, "request": {"id": None}, "type": kind, "data": {"object": obj}}


def posted_invoice(engine, client, tenant) -> tuple[int, str, Decimal]:
    """An invoice of `tenant` taken through submit, approve, issue and the ledger posting."""
    invoice_id = tenant.invoices[0]
    for action, who in (("submit", "ada"), ("approve", "fin"), ("issue", "ada")):
        response = client.post(f"/v1/invoices/{invoice_id}/{action}", headers=auth(tenant.keys[who]), json={})
        assert response.status_code == 200, response.text
    transition(engine, tenant.code, invoice_id, "post", actor="ledger")
    invoice = client.get(f"/v1/invoices/{invoice_id}", headers=auth(tenant.keys["admin"])).json()
    assert invoice["status"] == "posted"
    return invoice_id, invoice["number"], Decimal(invoice["total"])


def test_stripe_payments_post_to_the_ledger_and_pay_the_invoice(world, client):
    engine, alpha, _ = world
    configure(client, alpha, "payments")
    invoice_id, number, total = posted_invoice(engine, client, alpha)
    first = stripe_event("evt_pi_1", "payment_intent.succeeded", {
        "id": "pi_1", "object": "payment_intent", "amount_received": 10000, "currency": "eur",
        "metadata": {"invoice_number": number}, "customer": "cus_1"})
    response = deliver(client, "payments", first)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["status"] == "partially_paid"
    assert response.json()["result"]["outstanding"] == format(total - Decimal("100.00"), "f")
    rest = int((total - Decimal("100.00")) * 100)
    paid = stripe_event("evt_in_2", "invoice.paid", {"id": "in_2", "object": "invoice", "amount_paid": rest,
                                                     "currency": "eur", "payment_intent": "pi_2",
                                                     "metadata": {"invoice_number": number}})
    assert deliver(client, "payments", paid).json()["result"]["status"] == "paid"
    same_payment = stripe_event("evt_in_3", "invoice.paid", {**paid["data"]["object"], "id": "in_3"})
    assert deliver(client, "payments", same_payment).json()["result"]["action"] == "already_recorded"
    invoice = client.get(f"/v1/invoices/{invoice_id}", headers=auth(alpha.keys["admin"])).json()
    assert invoice["status"] == "paid"
    unknown = stripe_event("evt_pi_x", "payment_intent.succeeded", {
        "id": "pi_x", "amount_received": 100, "currency": "eur", "metadata": {"invoice_number": "NOPE-1"}})
    assert "no invoice numbered 'NOPE-1'" in problem(deliver(client, "payments", unknown), 422)["detail"]
    no_meta = stripe_event("evt_pi_y", "payment_intent.succeeded", {"id": "pi_y", "amount_received": 1,
                                                                    "currency": "eur", "metadata": {}})
    fields = {e["field"] for e in problem(deliver(client, "payments", no_meta), 422)["errors"]}
    assert fields == {"data.object.metadata.invoice_number"}


def test_tenants_are_isolated(world, client):
    _, alpha, beta = world
    configure(client, alpha, "crm")
    configure(client, beta, "crm", secret="beta-crm-secret-0123456789")
    assert deliver(client, "crm", opportunity("crm-evt-b"), tenant="beta").status_code == 401  # alpha's secret
    event = opportunity("crm-evt-b", "c-beta-1", AccountNumber="only-b", PlanCode="only-b-plan")
    assert deliver(client, "crm", event, tenant="beta", secret="beta-crm-secret-0123456789").status_code == 200
    admin = auth(alpha.keys["admin"])
    assert client.get("/v1/integrations/crm/events/crm-evt-b", headers=admin).status_code == 404
    assert client.post("/v1/integrations/crm/events/crm-evt-b/replay", headers=admin).status_code == 404
    assert "only-b" not in client.get("/v1/integrations/crm/events", headers=admin).text
    assert "beta-crm-secret" not in client.get("/v1/integrations/crm", headers=auth(beta.keys["admin"])).text


def test_signature_header_parsing():
    from invoiceflow.webhooks.signatures import SignatureError, verify

    raw, secret = b'{"id": "x"}', "s" * 20
    good = compute(secret, NOW, raw)
    assert verify(f" t={NOW} , v1={good.upper()} ", raw, [secret], now=NOW) == NOW  # spaces, upper-case hex
    for header, reason in ((f"v1={good}", "malformed"), (f"t={NOW},t={NOW},v1={good}", "malformed"),
                           (f"t=soon,v1={good}", "malformed"), (f"t={NOW},v1=xyz", "malformed"),
                           (f"t={NOW},v1={good[:-1]}{'1' if good.endswith('0') else '0'}", "mismatch"),
                           ("", "missing")):
        try:
            verify(header, raw, [secret], now=NOW)
        except SignatureError as exc:
            assert exc.reason == reason, (header, exc.reason)
        else:
            raise AssertionError(f"{header!r} was accepted")
