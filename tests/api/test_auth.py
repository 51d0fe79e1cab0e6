"""API keys (hashed, shown once, revocable, last use), OAuth2 client credentials, role scoping, rate limits."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from conftest import auth, settings
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from invoiceflow.api import create_app
from invoiceflow.api.credentials import create_oauth_client, revoke
from invoiceflow.cli import app as cli
from invoiceflow.store.api_tables import api_keys
from invoiceflow.store.review_tables import members
from api_seed import CLOCK_AT, clock


def test_keys_are_hashed_at_rest_and_use_is_recorded(world, client):
    engine, alpha, _ = world
    key = alpha.keys["finance"]
    assert client.get("/v1/invoices", headers=auth(key)).status_code == 200
    with engine.connect() as conn:
        rows = conn.execute(select(api_keys)).mappings().all()
        row = next(r for r in rows if key.startswith("ifk_" + r["prefix"] + "_"))
    assert all(key not in str(dict(r)) for r in rows)
    assert row["hash"].startswith("scrypt$") and row["last_used_at"] is not None


def test_revoked_key_stops_at_once(world, client):
    engine, alpha, _ = world
    key = alpha.keys["finance"]
    assert client.get("/v1/invoices", headers=auth(key)).status_code == 200
    with engine.begin() as conn:
        assert revoke(conn, alpha.id, key.rsplit("_", 1)[0], at=CLOCK_AT)
    refused = client.get("/v1/invoices", headers=auth(key))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_wrong_secret_with_a_real_prefix_is_refused(world, client):
    _, alpha, _ = world
    prefix = alpha.keys["admin"].rsplit("_", 1)[0]
    assert client.get("/v1/invoices", headers=auth(prefix + "_guessed")).status_code == 401


def test_member_role_removed_in_the_team_removes_it_from_the_key(world, client):
    engine, alpha, _ = world
    with engine.begin() as conn:
        conn.execute(update(members).where(members.c.tenant_id == alpha.id, members.c.name == "finance-user")
                     .values(roles=[]))
    response = client.get("/v1/bill-runs", headers=auth(alpha.keys["finance"]))
    assert response.status_code == 403


def _token(client, client_id: str, secret: str, **form) -> object:
    return client.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                "client_secret": secret, **form})


def test_oauth_client_credentials(world, client):
    engine, alpha, _ = world
    with engine.begin() as conn:
        made = create_oauth_client(conn, alpha.id, member="fin", roles=["finance", "approver"], actor="setup",
                                   at=CLOCK_AT)
    issued = _token(client, made.name, made.secret)
    assert issued.status_code == 200, issued.text
    token = issued.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 900
    claims = json.loads(base64.urlsafe_b64decode(token["access_token"].split(".")[1] + "=="))
    assert claims["tid"] == alpha.id and claims["sub"] == "fin" and claims["roles"] == ["approver", "finance"]
    assert claims["exp"] - claims["iat"] == 900
    assert client.get("/v1/bill-runs", headers=auth(token["access_token"])).status_code == 200
    narrowed = _token(client, made.name, made.secret, scope="approver").json()["access_token"]
    assert client.get("/v1/bill-runs", headers=auth(narrowed)).status_code == 403
    assert _token(client, made.name, made.secret, scope="admin").status_code == 400
    basic = base64.b64encode(f"{made.name}:{made.secret}".encode()).decode()
    assert client.post("/v1/oauth/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {basic}"}).status_code == 200
    bad = _token(client, made.name, "wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert _token(client, made.name, made.secret, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_tokens_expire_after_15_minutes_and_die_with_their_client(world):
    engine, alpha, _ = world
    frozen = clock()
    app = create_app(engine, settings=settings(), clock=frozen)
    with engine.begin() as conn:
        made = create_oauth_client(conn, alpha.id, member="ada", roles=["admin"], actor="setup", at=CLOCK_AT)
    with TestClient(app) as http:
        token = _token(http, made.name, made.secret).json()["access_token"]
        assert http.get("/v1/customers", headers=auth(token)).status_code == 200
        frozen.advance(timedelta(minutes=15))
        expired = http.get("/v1/customers", headers=auth(token))
        assert expired.status_code == 401 and "expired" in expired.json()["detail"]
        token = _token(http, made.name, made.secret).json()["access_token"]
        with engine.begin() as conn:
            revoke(conn, alpha.id, made.name, at=CLOCK_AT)
        assert http.get("/v1/customers", headers=auth(token)).status_code == 401
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert http.get("/v1/customers", headers=auth(forged)).status_code == 401


def test_token_endpoint_off_without_a_secret(world):
    app = create_app(world[0], settings=settings(jwt_secret=None), clock=clock())
    with TestClient(app) as http:
        response = http.post("/v1/oauth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rate_limit_per_tenant(world):
    engine, alpha, beta = world
    app = create_app(engine, settings=settings(rate_per_second=0.5, burst=3), clock=clock())
    with TestClient(app) as http:
        codes = [http.get("/v1/products", headers=auth(alpha.keys["admin"])).status_code for _ in range(4)]
        limited = http.get("/v1/products", headers=auth(alpha.keys["auditor"]))
        other = http.get("/v1/products", headers=auth(beta.keys["admin"]))
    assert codes == [200, 200, 200, 429]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert other.status_code == 200  # another tenant's bucket


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_api_key_create_list_revoke(db_url, world):
    runner = CliRunner()
    args = ["--tenant", "alpha", "--database", db_url]
    made = runner.invoke(cli, ["api-key", "create", "--name", "zoe", "--role", "auditor", "--json", *args])
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    app = create_app(world[0], settings=settings(), clock=clock())
    with TestClient(app) as http:
        assert http.get("/v1/invoices", headers=auth(created["key"])).status_code == 200
        listed = runner.invoke(cli, ["api-key", "list", "--json", *args])
        assert created["key"] not in listed.stdout and created["name"] in listed.stdout
        gone = runner.invoke(cli, ["api-key", "revoke", created["name"], *args])
        assert gone.exit_code == 0 and "revoked" in gone.stdout
        assert http.get("/v1/invoices", headers=auth(created["key"])).status_code == 401
    bad = runner.invoke(cli, ["api-key", "create", "--name", "zoe", "--role", "wizard", *args])
    assert bad.exit_code == 2 and "unknown role" in bad.output
