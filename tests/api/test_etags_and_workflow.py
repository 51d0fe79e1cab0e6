"""ETag/If-Match on updates, segregation of duties through the API, and the main write paths."""

from __future__ import annotations

import time

import yaml
from conftest import auth

from invoiceflow.policy.document import default_source


def test_case_assign_needs_the_current_etag(world, client):
    _, alpha, _ = world
    case = f"/v1/cases/{alpha.cases[0]}"
    key = alpha.keys["admin"]
    etag = client.get(case, headers=auth(key)).headers["etag"]
    missing = client.post(f"{case}/assign", headers=auth(key), json={"to": "fin"})
    assert missing.status_code == 428 and missing.json()["current_etag"] == etag
    first = client.post(f"{case}/assign", headers=auth(key, **{"If-Match": etag}), json={"to": "fin"})
    assert first.status_code == 200 and first.json()["assignee"] == "fin"
    assert first.headers["etag"] != etag
    stale = client.post(f"{case}/assign", headers=auth(key, **{"If-Match": etag}), json={"to": "apr"})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert client.get(case, headers=auth(key)).json()["assignee"] == "fin"  # not silently overwritten
    fresh = client.post(f"{case}/assign", headers=auth(key, **{"If-Match": first.headers["etag"]}), json={"to": "apr"})
    assert fresh.status_code == 200 and fresh.json()["assignee"] == "apr"


def _policy(name: str) -> str:
    doc = yaml.safe_load(default_source())
    doc["name"] = name
    return yaml.safe_dump(doc, sort_keys=False)


def test_policy_apply_is_guarded_by_the_current_versions_etag(world, client):
    _, alpha, _ = world
    key = alpha.keys["admin"]
    current = client.get("/v1/policies/current", headers=auth(key))
    assert current.json()["version"] == 1
    etag = current.headers["etag"]
    assert client.post("/v1/policies", headers=auth(key), json={"source": _policy("v2")}).status_code == 428
    created = client.post("/v1/policies", headers=auth(key, **{"If-Match": etag}), json={"source": _policy("v2")})
    assert created.status_code == 201 and created.json() == {"version": 2, "created": True, "warnings": []}
    lost = client.post("/v1/policies", headers=auth(key, **{"If-Match": etag}), json={"source": _policy("v2 bis")})
    assert lost.status_code == 412  # a second admin who read version 1 cannot replace version 2 unknowingly
    same = client.post("/v1/policies", headers=auth(key, **{"If-Match": created.headers["etag"]}),
                       json={"source": _policy("v2")})
    assert same.status_code == 200 and same.json()["created"] is False
    versions = client.get("/v1/policies", headers=auth(key)).json()["data"]
    assert [v["version"] for v in versions] == [1, 2]


def test_policy_validate_names_lines(world, client):
    _, alpha, _ = world
    bad = _policy("x").replace("pricing:", "pricng:", 1)
    found = client.post("/v1/policies/validate", headers=auth(alpha.keys["finance"]), json={"source": bad}).json()
    assert found["valid"] is False
    assert any("pricng" in e["message"] for e in found["errors"])
    good = client.post("/v1/policies/validate", headers=auth(alpha.keys["finance"]), json={"source": _policy("y")})
    assert good.json()["valid"] is True


def test_submitter_cannot_approve_through_the_api(world, client):
    """fin (finance + approver) submits; fin's approval is refused (segregation of duties); apr approves."""
    engine, alpha, _ = world
    invoice = alpha.invoices[0]  # berlin: validated by the seed's release pass
    fin, apr = alpha.keys["fin"], alpha.keys["apr"]
    submitted = client.post(f"/v1/invoices/{invoice}/submit", headers=auth(fin))
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "pending_approval"
    refused = client.post(f"/v1/invoices/{invoice}/approve", headers=auth(fin))
    assert refused.status_code == 403, refused.text
    assert refused.json()["rule"] == "segregation_of_duties"
    approved = client.post(f"/v1/invoices/{invoice}/approve", headers=auth(apr))
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    issued = client.post(f"/v1/invoices/{invoice}/issue", headers=auth(fin))
    assert issued.json()["number"].startswith("INV-2026-")
    again = client.post(f"/v1/invoices/{invoice}/issue", headers=auth(fin))
    assert again.json()["changed"] is False and again.json()["number"] == issued.json()["number"]
    history = client.get(f"/v1/invoices/{invoice}/history", headers=auth(alpha.keys["auditor"])).json()
    assert [r["actor"] for r in history["refused"]] == ["fin"]


def test_void_needs_a_reason_and_honours_if_match(world, client):
    _, alpha, _ = world
    invoice = f"/v1/invoices/{alpha.invoices[1]}"
    key = alpha.keys["finance"]
    no_reason = client.post(f"{invoice}/void", headers=auth(key))
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    stale = client.post(f"{invoice}/void", headers=auth(key, **{"If-Match": '"old"'}), json={"reason": "wrong entity"})
    assert stale.status_code == 412
    etag = client.get(invoice, headers=auth(key)).headers["etag"]
    voided = client.post(f"{invoice}/void", headers=auth(key, **{"If-Match": etag}), json={"reason": "wrong entity"})
    assert voided.status_code == 200 and voided.json()["status"] == "void"


def test_validate_runs_the_policy_gates(world, client):
    _, alpha, _ = world
    held = alpha.invoices[-1]  # only-a: its legal entity has no GL mapping
    found = client.post(f"/v1/invoices/{held}/validate", headers=auth(alpha.keys["finance"])).json()
    assert found["status"] == "held"
    assert {f["code"] for f in found["findings"]} == {"posting_readiness.gl_mapping_missing"}


def test_case_resolution_and_override_approval(world, client):
    _, alpha, _ = world
    case = alpha.cases[0]
    outcome = client.post(f"/v1/cases/{case}/resolve", headers=auth(alpha.keys["fin"]),
                          json={"action": "escalate", "reason": "needs the controller"})
    assert outcome.status_code == 200, outcome.text
    assert outcome.json()["status"] == "open"
    nothing_pending = client.post(f"/v1/cases/{case}/approve-override", headers=auth(alpha.keys["apr"]))
    assert nothing_pending.status_code == 409


def test_catalog_apply_and_contract_amendment(world, client):
    _, alpha, _ = world
    key = alpha.keys["revops"]
    doc = {"products": [{"code": "extra", "name": "Extra"}]}
    first = client.post("/v1/catalog", headers=auth(key), json=doc).json()
    assert first["created"] == {"products": 1}
    assert client.post("/v1/catalog", headers=auth(key), json=doc).json()["changed"] is False
    amended = client.post("/v1/contracts/c-only-a/amendments", headers=auth(key),
                          json={"version": {"effective_from": "2026-12-01", "plan": "only-a-plan"}})
    assert amended.status_code == 200, amended.text
    assert amended.json()["created"] == {"contract_versions": 1}
    versions = client.get("/v1/contracts/c-only-a", headers=auth(key)).json()["versions"]
    assert [v["effective_from"] for v in versions] == ["2026-01-01", "2026-12-01"]
    billed = client.post("/v1/contracts/c-only-a/amendments", headers=auth(key),
                         json={"version": {"effective_from": "2026-09-01", "plan": "only-a-plan"}})
    assert billed.status_code == 422 and "billed through" in billed.text


def test_bill_run_start_and_status(world, client):
    _, alpha, _ = world
    started = client.post("/v1/bill-runs", headers=auth(alpha.keys["finance"]), json={"period": "2026-09"})
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    deadline = time.monotonic() + 60
    while True:
        run = client.get(location, headers=auth(alpha.keys["auditor"])).json()
        if run["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert run["status"] == "completed", run
    assert run["progress"] == {"subscriptions_done": 5, "subscriptions_total": 5}
    assert run["stats"]["invoices"] == 5  # October, billed in advance
    both = client.post("/v1/bill-runs", headers=auth(alpha.keys["finance"]), json={"period": "2026-09",
                                                                                    "as_of": "2026-10-01"})
    assert both.status_code == 422


def test_single_usage_event_and_reads(world, client):
    _, alpha, _ = world
    key = alpha.keys["revops"]
    event = {"transaction_id": "one-1", "customer": "only-a", "metric": "only-a_meter",
             "timestamp": "2026-09-03T10:00:00+02:00", "value": 3, "properties": {"region": "eu"}}
    assert client.post("/v1/usage-events", headers=auth(key), json=event).status_code == 201
    duplicate = client.post("/v1/usage-events", headers=auth(key), json=event)
    assert duplicate.status_code == 200 and duplicate.json()["duplicates"] == 1
    stored = client.get("/v1/usage-events/one-1", headers=auth(key)).json()
    assert stored["timestamp"] == "2026-09-03T08:00:00Z" and stored["quantity"] == "1"
    listed = client.get("/v1/usage-events?from=2026-09-03T00:00:00Z&metric=only-a_meter", headers=auth(key))
    assert [e["transaction_id"] for e in listed.json()["data"]] == ["one-1"]
