"""Access: an admin manages API keys and team members through the API.

A new key's secret exists in the 201 answer and nowhere else: the table keeps its scrypt hash, and the
Idempotency-Key record of the request keeps the answer with the secret removed, so a replay confirms the
key (same id and name) without handing the secret out twice. Revoking is idempotent and takes effect on
the key's next request. Creating and revoking keys and setting roles are audited; roles go through
`team.set_member`, the same rule as `invoiceflow team set`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Depends, Query
from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import JSONResponse

from invoiceflow.api import credentials
from invoiceflow.api.credentials import KEY_PREFIX
from invoiceflow.api.deps import Id, api_router, caller, ctx_of, not_found
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.schemas.access import ApiKey, ApiKeyCreated, ApiKeyIn, Member, MemberIn
from invoiceflow.audit.log import append_entry
from invoiceflow.store.api_tables import api_keys
from invoiceflow.store.db import reader
from invoiceflow.store.review_tables import members
from invoiceflow.team import set_member

router = api_router("access")
_KEY_COLUMNS = (api_keys.c.id, api_keys.c.prefix, api_keys.c.member, api_keys.c.roles, api_keys.c.label,
                api_keys.c.created_at, api_keys.c.created_by, api_keys.c.last_used_at, api_keys.c.revoked_at)


class SecretResponse(JSONResponse):
    """A response whose stored copy (for Idempotency-Key replays) leaves out the secret fields."""

    def __init__(self, content: dict[str, Any], *, secret_fields: tuple[str, ...], status_code: int):
        super().__init__(content, status_code=status_code)
        self.stored_body = orjson.dumps({k: None if k in secret_fields else v for k, v in content.items()})


@router.get("/v1/api-keys", response_model=Page[ApiKey], dependencies=[allow("access.read")],
            summary="API keys of this tenant (never their secrets)")
def list_api_keys(request: Request, page: PageParams = Depends(),
                  member: str | None = Query(None, max_length=128),
                  revoked: bool | None = Query(None)) -> dict[str, Any]:
    query = select(*_KEY_COLUMNS).where(api_keys.c.tenant_id == caller(request).tenant_id)
    if member:
        query = query.where(api_keys.c.member == member)
    if revoked is not None:
        query = query.where(api_keys.c.revoked_at.isnot(None) if revoked else api_keys.c.revoked_at.is_(None))
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, api_keys.c.id, "api_keys", page)
    return page_of([_key_view(r) for r in rows], cursor)


@router.post("/v1/api-keys", response_model=ApiKeyCreated, status_code=201, dependencies=[allow("access.manage")],
             summary="Create an API key for a member, scoped to roles; the key is in this answer only")
def create_api_key(body: ApiKeyIn, request: Request) -> SecretResponse:
    ctx, who = ctx_of(request), caller(request)
    at = ctx.clock.now()
    with ctx.engine.begin() as conn:
        created = credentials.create_api_key(conn, who.tenant_id, member=body.member, roles=body.roles, actor=who.member,
                                 at=at, label=body.label)
        append_entry(conn, tenant_id=who.tenant_id, actor=who.member, action="api_key.created", object_type="api_key",
                     object_id=created.name, at=at, payload={"member": created.member, "roles": list(created.roles),
                                                             "label": body.label})
        row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == created.id)).mappings().one()
    view = ApiKeyCreated(**_key_view(row), key=created.secret).model_dump(mode="json")
    return SecretResponse(view, secret_fields=("key",), status_code=201)


@router.post("/v1/api-keys/{key_id}/revoke", response_model=ApiKey, dependencies=[allow("access.manage")],
             summary="Revoke an API key (idempotent); its next request is refused")
def revoke_api_key(key_id: Id, request: Request) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    at = ctx.clock.now()
    with ctx.engine.begin() as conn:
        row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.tenant_id == who.tenant_id, api_keys.c.id == key_id)
                           .with_for_update()).mappings().first()
        if row is None:
            raise not_found("API key", key_id)
        if row["revoked_at"] is None:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=at))
            append_entry(conn, tenant_id=who.tenant_id, actor=who.member, action="api_key.revoked",
                         object_type="api_key", object_id=KEY_PREFIX + row["prefix"], at=at, payload={})
            row = {**row, "revoked_at": at}
    return _key_view(row)


@router.get("/v1/members", response_model=Page[Member], dependencies=[allow("access.read")],
            summary="Team members with at least one role, by name (a team is one page)")
def list_members(request: Request) -> dict[str, Any]:
    tid = caller(request).tenant_id
    with reader(ctx_of(request).engine).connect() as conn:
        rows = conn.execute(select(members.c.name, members.c.roles, members.c.updated_at)
                            .where(members.c.tenant_id == tid).order_by(members.c.name)).mappings().all()
    return page_of([dict(r) for r in rows if r["roles"]], None)


@router.put("/v1/members/{name}", response_model=Member, dependencies=[allow("access.manage")],
            summary="Give a member exactly these roles (audited); an empty list takes every role away")
def set_member_roles(name: str, body: MemberIn, request: Request) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    at = ctx.clock.now()
    with ctx.engine.begin() as conn:
        roles = set_member(conn, who.tenant_id, name, body.roles, actor=who.member, at=at)
        updated = conn.execute(select(members.c.updated_at).where(members.c.tenant_id == who.tenant_id,
                                                                  members.c.name == name.strip())).scalar()
    return {"name": name.strip(), "roles": list(roles), "updated_at": updated}


def _key_view(row: Any) -> dict[str, Any]:
    data = dict(row)
    data["name"] = KEY_PREFIX + data.pop("prefix")
    return data
