"""Release policies: validate a YAML text, apply it as the next version, read versions.

Applying needs `If-Match` with the ETag of the current version (`GET /v1/policies/current`): the version a
person reviewed is the one their change replaces, so two admins editing at once cannot silently drop each
other's change. The check and the new version are one transaction with the current version's row locked;
the same content again is answered 200 with the version it already is.
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import Depends
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from invoiceflow.api.deps import Version, api_router, caller, ctx_of, not_found
from invoiceflow.api.etags import check_if_match, etag_of
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.routing import problem_responses
from invoiceflow.api.schemas.review import PolicyApplied, PolicyCheck, PolicyDetail, PolicyIn, PolicyVersion
from invoiceflow.policy.document import PolicyError, check_policy_text, default_source
from invoiceflow.policy.store import apply_policy
from invoiceflow.store.db import reader
from invoiceflow.store.review_tables import policies
from invoiceflow.team import require_role

router = api_router("policies")


def policy_etag(version: int, content_hash: str) -> str:
    return etag_of("policy", version, content_hash)


@router.post("/v1/policies/validate", response_model=PolicyCheck, dependencies=[allow("policies.validate")],
             summary="Check a policy; every problem with its line")
def validate_policy(body: PolicyIn) -> dict[str, Any]:
    try:
        doc = check_policy_text(body.source, name=body.name or "policy")
    except PolicyError as exc:
        return {"valid": False, "errors": [p.as_dict() for p in exc.problems]}
    return {"valid": True, "gates": len(doc["gates"]), "routes": len(doc["routing"]),
            "approval_rules": len(doc["approvals"]["rules"])}


@router.post("/v1/policies", response_model=PolicyApplied, status_code=201, dependencies=[allow("policies.write")],
             responses={200: {"description": "Same content as the current version: nothing changed",
                              "model": PolicyApplied}, **problem_responses(412, 428)},
             summary="Apply a policy as the next version (If-Match required)")
def apply(body: PolicyIn, request: Request, response: Response) -> dict[str, Any]:
    ctx, who = ctx_of(request), caller(request)
    with ctx.engine.begin() as conn:
        current = conn.execute(select(policies.c.version, policies.c.content_hash)
                               .where(policies.c.tenant_id == who.tenant_id)
                               .order_by(policies.c.version.desc()).limit(1).with_for_update()).first()
        check_if_match(request, policy_etag(*(current or (0, "default"))), required=True)
        require_role(conn, who.tenant_id, who.member, ("admin",), doing="apply a policy")
        applied = apply_policy(conn, who.tenant_id, body.source, actor=who.member, at=ctx.clock.now(),
                               name=body.name or "api")
        digest = conn.execute(select(policies.c.content_hash).where(
            policies.c.tenant_id == who.tenant_id, policies.c.version == applied.version)).scalar_one()
    response.headers["ETag"] = policy_etag(applied.version, digest)
    if not applied.created:
        response.status_code = 200
    return {"version": applied.version, "created": applied.created, "warnings": list(applied.warnings)}


@router.get("/v1/policies", response_model=Page[PolicyVersion], dependencies=[allow("policies.read")],
            summary="Policy versions, oldest first")
def list_policies(request: Request, page: PageParams = Depends()) -> dict[str, Any]:
    query = select(policies.c.id, policies.c.version, policies.c.created_by, policies.c.created_at,
                   policies.c.content_hash, policies.c.document)
    query = query.where(policies.c.tenant_id == caller(request).tenant_id)
    with reader(ctx_of(request).engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, policies.c.id, "policies", page)
    return page_of([{**r, "name": (r["document"] or {}).get("name")} for r in rows], cursor)


@router.get("/v1/policies/current", response_model=PolicyDetail, dependencies=[allow("policies.read")],
            summary="The version in force (ETag for If-Match on apply)")
def get_current_policy(request: Request, response: Response) -> dict[str, Any]:
    with reader(ctx_of(request).engine).connect() as conn:
        version = conn.execute(select(func.max(policies.c.version))
                               .where(policies.c.tenant_id == caller(request).tenant_id)).scalar() or 0
    return get_policy_version(version, request, response)


@router.get("/v1/policies/{version}", response_model=PolicyDetail, dependencies=[allow("policies.read")],
            summary="One policy version (0 = the built-in default)")
def get_policy_version(version: Version, request: Request, response: Response) -> dict[str, Any]:
    if version == 0:
        source = default_source()
        response.headers["ETag"] = policy_etag(0, "default")
        return {"version": 0, "source": source, "document": yaml.safe_load(source)}
    with reader(ctx_of(request).engine).connect() as conn:
        row = conn.execute(select(policies).where(policies.c.tenant_id == caller(request).tenant_id,
                                                  policies.c.version == version)).mappings().first()
    if row is None:
        raise not_found("policy version", version)
    response.headers["ETag"] = policy_etag(row["version"], row["content_hash"])
    return {"version": row["version"], "source": row["source"], "document": row["document"]}
