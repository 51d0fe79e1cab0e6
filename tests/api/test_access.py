"""API keys and team members managed through the API: the secret is shown once, never stored or replayed
in clear, revocation bites on the next request, and every change is audited."""

from __future__ import annotations

from conftest import auth
from sqlalchemy import select, text

from invoiceflow.store.api_tables import api_keys, idempotency_keys


def test_a_new_key_works_at_once_and_its_secret_is_shown_only_once(world, client):
    engine, alpha, _ = world
    admin = auth(alpha.keys["admin"], **{"Idempotency-Key": "new-key-1"})
    body = {"member": "grace", "roles": ["finance"], "label": "reconciliation job"}
    created = client.post("/v1/api-keys", headers=admin, json=body)
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["key"].startswith(made["name"] + "_") and made["member"] == "grace" and made["roles"] == ["finance"]
    assert client.get("/v1/invoices", headers=auth(made["key"])).status_code == 200
    replay = client.post("/v1/api-keys", headers=admin, json=body)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == made["id"] and replay.json()["key"] is None
    with engine.connect() as conn:
        stored_hash = conn.execute(select(api_keys.c.hash).where(api_keys.c.id == made["id"])).scalar_one()
        kept = conn.execute(select(idempotency_keys.c.response_body)
                            .where(idempotency_keys.c.key == "new-key-1")).scalar_one()
        anywhere = conn.execute(text("SELECT count(*) FROM audit_log WHERE payload LIKE :k"),
                                {"k": f"%{made['key']}%"}).scalar_one()
    assert made["key"] not in stored_hash and made["key"] not in kept and anywhere == 0
    listed = client.get("/v1/api-keys?member=grace", headers=auth(alpha.keys["auditor"])).json()["data"]
    assert [k["name"] for k in listed] == [made["name"]] and "key" not in listed[0] and "hash" not in listed[0]


def test_revoking_stops_the_key_on_its_next_request_and_is_idempotent(world, client):
    _, alpha, _ = world
    admin = auth(alpha.keys["admin"])
    made = client.post("/v1/api-keys", headers=admin, json={"member": "hal", "roles": ["support"]}).json()
    assert client.get("/v1/cases", headers=auth(made["key"])).status_code == 200
    first = client.post(f"/v1/api-keys/{made['id']}/revoke", headers=admin)
    assert first.status_code == 200 and first.json()["revoked_at"] is not None
    again = client.post(f"/v1/api-keys/{made['id']}/revoke", headers=admin)
    assert again.json()["revoked_at"] == first.json()["revoked_at"]
    assert client.get("/v1/cases", headers=auth(made["key"])).status_code == 401
    active = client.get("/v1/api-keys?revoked=false&member=hal", headers=admin).json()["data"]
    assert active == []


def test_roles_set_through_the_api_apply_to_the_members_keys(world, client):
    engine, alpha, _ = world
    admin = auth(alpha.keys["admin"])
    made = client.post("/v1/api-keys", headers=admin, json={"member": "ivy", "roles": ["finance"]}).json()
    assert client.get("/v1/effects", headers=auth(made["key"])).status_code == 200
    changed = client.put("/v1/members/ivy", headers=admin, json={"roles": ["support"]})
    assert changed.status_code == 200 and changed.json()["roles"] == ["support"]
    assert client.get("/v1/effects", headers=auth(made["key"])).status_code == 403  # the key's scope ∩ roles
    team = {m["name"]: m["roles"] for m in client.get("/v1/members", headers=admin).json()["data"]}
    assert team["ivy"] == ["support"]
    with engine.connect() as conn:
        actions = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_log WHERE tenant_id = :t AND action IN "
            "('api_key.created', 'team.roles_set') ORDER BY sequence"), {"t": alpha.id})]
    assert actions[-2:] == ["api_key.created", "team.roles_set"]


def test_bad_requests_name_the_field_and_write_nothing(world, client):
    engine, alpha, _ = world
    admin = auth(alpha.keys["admin"])
    with engine.connect() as conn:
        before = sorted(conn.execute(select(api_keys.c.id)).scalars())
    for body, field in (({"member": "x", "roles": ["owner"]}, "roles[0]"), ({"member": "x", "roles": []}, "roles"),
                        ({"member": " ", "roles": ["finance"]}, "member"),
                        ({"member": "x", "roles": ["finance"], "scope": "all"}, "scope")):
        answer = client.post("/v1/api-keys", headers=admin, json=body)
        assert answer.status_code == 422, answer.text
        assert field in {e["field"] for e in answer.json()["errors"]}, answer.json()
    assert client.put("/v1/members/x", headers=admin, json={"roles": ["root"]}).status_code == 422
    assert client.post("/v1/api-keys/999999/revoke", headers=admin).status_code == 404
    with engine.connect() as conn:
        assert sorted(conn.execute(select(api_keys.c.id)).scalars()) == before


def test_only_admins_manage_access(world, client):
    _, alpha, _ = world
    for role in ("finance", "revops", "auditor", "approver"):
        answer = client.post("/v1/api-keys", headers=auth(alpha.keys[role]), json={"member": "m", "roles": ["admin"]})
        assert answer.status_code == 403, (role, answer.text)
        assert client.put("/v1/members/m", headers=auth(alpha.keys[role]), json={"roles": ["admin"]}).status_code == 403
