"""OAuth2 client credentials (RFC 6749 §4.4): a client id and secret buy a short-lived JWT.

Tokens are HS256 JWTs signed with the installation's secret (INVOICEFLOW_JWT_SECRET), valid 15 minutes,
and carry the tenant, the member and the roles; `scope` (space-separated roles) narrows them. The request
is form-encoded as the RFC says; client authentication by HTTP Basic or by form fields. Errors are
problem documents that also carry the RFC's `error` code, so OAuth2 libraries and our clients both read them.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from urllib.parse import parse_qs

import jwt
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select, update

from invoiceflow.api.auth import AUDIENCE, ISSUER
from invoiceflow.api.context import ApiContext
from invoiceflow.api.credentials import verify_secret
from invoiceflow.api.problems import PROBLEM_JSON, ApiProblem, problem_schema
from invoiceflow.store.api_tables import oauth_clients

router = APIRouter(tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


_FORM = {"type": "object", "required": ["grant_type"], "properties": {
    "grant_type": {"type": "string", "enum": ["client_credentials"]}, "client_id": {"type": "string"},
    "client_secret": {"type": "string"}, "scope": {"type": "string"}}}
_ERRORS = {str(code): {"description": text, "content": {PROBLEM_JSON: {"schema": problem_schema()}}}
           for code, text in ((400, "Bad request (RFC 6749 error in `error`)"), (401, "Invalid client"),
                              (413, "Request too large"), (503, "Tokens not enabled"))}


@router.post("/v1/oauth/token", response_model=TokenResponse, summary="Issue an access token",
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"application/x-www-form-urlencoded": {"schema": _FORM}}},
                            "responses": _ERRORS, "x-permission": "public"})
async def issue_token(request: Request) -> TokenResponse:
    """Exchange client credentials for a bearer token (grant_type=client_credentials)."""
    ctx: ApiContext = request.app.state.api
    if not ctx.settings.jwt_secret:
        raise ApiProblem(503, "OAuth2 is not enabled on this server: set INVOICEFLOW_JWT_SECRET",
                         kind="oauth-disabled", error="temporarily_unavailable")
    body = await request.body()
    if len(body) > 64 * 1024:
        raise ApiProblem(413, "token requests are small; this one is over 64 KiB")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    basic = _basic(request.headers.get("authorization"))
    client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
    if form.get("grant_type") != "client_credentials":
        raise ApiProblem(400, "grant_type must be client_credentials", error="unsupported_grant_type",
                         errors=[{"field": "grant_type", "detail": "must be client_credentials", "in": "body",
                                  "pointer": "/grant_type"}])
    if not client_id or not secret:
        raise _invalid_client("send client_id and client_secret (form fields or HTTP Basic)")
    return await run_in_threadpool(_issue, ctx, client_id, secret, form.get("scope"))


def _issue(ctx: ApiContext, client_id: str, secret: str, scope: str | None) -> TokenResponse:
    with ctx.engine.connect() as conn:
        row = conn.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id)).mappings().first()
    if row is None or row["revoked_at"] is not None or not verify_secret(secret, row["secret_hash"]):
        raise _invalid_client("unknown client, wrong secret, or revoked client")
    roles = sorted(row["roles"])
    if scope:
        asked = set(scope.split())
        extra = asked - set(roles)
        if extra:
            raise ApiProblem(400, f"scope asks for roles the client does not have: {', '.join(sorted(extra))}",
                             error="invalid_scope", errors=[{"field": "scope", "detail": "not granted",
                                                             "in": "body", "pointer": "/scope"}])
        roles = sorted(asked)
    now = ctx.clock.now()
    ttl = ctx.settings.token_ttl_seconds
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": row["member"], "tid": int(row["tenant_id"]),
              "cid": client_id, "roles": roles, "iat": int(now.timestamp()),
              "exp": int((now + timedelta(seconds=ttl)).timestamp()), "jti": secrets.token_hex(8)}
    with ctx.engine.begin() as conn:
        conn.execute(update(oauth_clients).where(oauth_clients.c.id == row["id"]).values(last_used_at=now))
    return TokenResponse(access_token=jwt.encode(claims, ctx.settings.jwt_secret, algorithm="HS256"),
                         expires_in=ttl, scope=" ".join(roles))


def _basic(header: str | None) -> tuple[str, str] | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _invalid_client(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, kind="invalid-client", error="invalid_client",
                      headers={"WWW-Authenticate": 'Basic realm="invoiceflow"'})
