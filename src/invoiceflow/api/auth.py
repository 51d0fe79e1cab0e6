"""Who is calling: an API key or an OAuth2 access token becomes a Principal (tenant, member, roles).

Both kinds travel as `Authorization: Bearer ...`; API keys start with `ifk_`, anything else is read as a
JWT from the token endpoint. Every request reads the credential's row (one indexed lookup), so a revoked
key or client stops working at once and a member's role change applies to the next request. The scrypt
check of a key runs once per key and process; later requests compare a SHA-256 of the presented key with
the one that verified. `last_used_at` is written at most once a minute per credential.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import jwt
from sqlalchemy import and_, select, update

from invoiceflow.api.context import ApiContext
from invoiceflow.api.credentials import key_prefix, verify_secret
from invoiceflow.api.problems import ApiProblem
from invoiceflow.store.api_tables import api_keys, oauth_clients
from invoiceflow.store.review_tables import members
from invoiceflow.store.tables import tenants

ISSUER = "invoiceflow"
AUDIENCE = "invoiceflow-api"
_TOUCH_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: acts in `tenant` as team member `member` with `roles` (credential scope ∩ member roles)."""

    tenant: str
    tenant_id: int
    member: str
    roles: frozenset[str]
    credential: str  # "ifk_<prefix>" or the OAuth client id


def unauthenticated(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, kind="unauthenticated",
                      headers={"WWW-Authenticate": 'Bearer realm="invoiceflow"'})


def authenticate(ctx: ApiContext, authorization: str | None) -> Principal:
    """The Principal of an Authorization header, or a 401 problem."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthenticated("send an API key or an access token as 'Authorization: Bearer <credential>'")
    if token.startswith("ifk_"):
        return _from_api_key(ctx, token)
    return _from_jwt(ctx, token)


def _from_api_key(ctx: ApiContext, presented: str) -> Principal:
    prefix = key_prefix(presented)
    if prefix is None:
        raise unauthenticated("malformed API key (expected ifk_<prefix>_<secret>)")
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(api_keys.c.id, api_keys.c.tenant_id, api_keys.c.hash, api_keys.c.member, api_keys.c.roles,
                   api_keys.c.revoked_at, tenants.c.code, members.c.roles.label("member_roles"))
            .join(tenants, tenants.c.id == api_keys.c.tenant_id)
            .outerjoin(members, and_(members.c.tenant_id == api_keys.c.tenant_id,
                                     members.c.name == api_keys.c.member))
            .where(api_keys.c.prefix == prefix)).first()
    if row is None or row.revoked_at is not None:
        raise unauthenticated("unknown or revoked API key")
    seen = hashlib.sha256(presented.encode()).hexdigest()
    cache_key = f"key:{row.id}:{row.hash}"
    if ctx.verified.get(cache_key) != seen:
        if not verify_secret(presented, row.hash):
            raise unauthenticated("unknown or revoked API key")
        ctx.verified[cache_key] = seen
    _touch(ctx, api_keys, row.id, f"key:{row.id}")
    roles = frozenset(row.roles) & frozenset(row.member_roles or ())
    return Principal(row.code, int(row.tenant_id), row.member, roles, "ifk_" + prefix)


def _from_jwt(ctx: ApiContext, token: str) -> Principal:
    if not ctx.settings.jwt_secret:
        raise unauthenticated("access tokens are not enabled on this server (INVOICEFLOW_JWT_SECRET is unset)")
    try:  # expiry is checked against the app's clock (the one that issued the token), below
        claims = jwt.decode(token, ctx.settings.jwt_secret, algorithms=["HS256"], audience=AUDIENCE,
                            issuer=ISSUER, options={"require": ["exp", "iat", "sub", "tid", "cid", "roles"],
                                                    "verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise unauthenticated(f"invalid access token ({exc})") from None
    if not isinstance(claims["exp"], int) or claims["exp"] <= ctx.clock.now().timestamp():
        raise unauthenticated("the access token has expired; request a new one at /v1/oauth/token")
    if not isinstance(claims["roles"], list) or not isinstance(claims["tid"], int):
        raise unauthenticated("invalid access token (malformed claims)")
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(oauth_clients.c.id, oauth_clients.c.tenant_id, oauth_clients.c.member, oauth_clients.c.roles,
                   oauth_clients.c.revoked_at, tenants.c.code, members.c.roles.label("member_roles"))
            .join(tenants, tenants.c.id == oauth_clients.c.tenant_id)
            .outerjoin(members, and_(members.c.tenant_id == oauth_clients.c.tenant_id,
                                     members.c.name == oauth_clients.c.member))
            .where(oauth_clients.c.client_id == str(claims["cid"]))).first()
    if row is None or row.revoked_at is not None or int(row.tenant_id) != claims["tid"]:
        raise unauthenticated("the OAuth client of this token is unknown or revoked")
    _touch(ctx, oauth_clients, row.id, f"client:{row.id}")
    roles = frozenset(claims["roles"]) & frozenset(row.roles) & frozenset(row.member_roles or ())
    return Principal(row.code, int(row.tenant_id), row.member, roles, str(claims["cid"]))


def _touch(ctx: ApiContext, table, row_id: int, name: str) -> None:
    """Record the use of a credential, at most once a minute (a write per request would serialise reads)."""
    now = time.monotonic()
    last = ctx.last_used.get(name)
    if last is not None and now - last < _TOUCH_EVERY:
        return
    ctx.last_used[name] = now
    with ctx.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == row_id).values(last_used_at=ctx.clock.now()))
