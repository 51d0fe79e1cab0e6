"""One catalog resource at a time: `PUT /v1/<kind>/{code}` and the ETags of catalog resources.

A PUT applies the one-record catalog document `{section: [body]}` with `apply_document` in one transaction,
so every rule of the document apply holds unchanged: validation, the guards on billed history, plan and
contract versions, matching by content hash (the same body again changes nothing). What the PUT adds is
optimistic concurrency. A resource's ETag hashes what GET shows of it plus its stored content hash;
updating an existing resource needs that ETag back as `If-Match`, checked with the resource's row locked
in the write transaction, so two people editing one customer cannot silently overwrite each other.
Creating needs no If-Match, and `If-None-Match: *` makes a PUT create-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Callable

from fastapi import Path
from sqlalchemy import Connection, Table, select
from starlette.requests import Request
from starlette.responses import Response

from invoiceflow.api.deps import caller, ctx_of, not_found
from invoiceflow.api.etags import check_if_match, etag_of
from invoiceflow.api.problems import ApiProblem, field_error
from invoiceflow.api.routing import problem_responses
from invoiceflow.api.schemas.catalog import CODE_PATTERN
from invoiceflow.api.schemas.common import WriteModel
from invoiceflow.catalog.apply import apply_document
from invoiceflow.errors import ApplyError
from invoiceflow.store.db import reader

CodePath = Annotated[str, Path(pattern=CODE_PATTERN, description="The resource's code, in the caller's tenant.")]
Reader = Callable[[Connection, int, str], dict[str, Any] | None]
ETAG_HEADER = {"ETag": {"description": "Send it back as If-Match to update this resource.",
                        "schema": {"type": "string"}}}


@dataclass(frozen=True)
class CatalogKind:
    """What the generic read and PUT need to know about one kind of catalog resource."""

    section: str  # the catalog document section a PUT body is one item of
    table: Table  # the row matched by code, locked while the preconditions are checked
    what: str  # the resource as messages name it ("legal entity")
    read: Reader  # the representation GET returns (a superset of its response model), or None


def resource_etag(kind: CatalogKind, representation: dict[str, Any]) -> str:
    """Changes whenever anything GET shows changes, and whenever apply rewrote the row (its content hash).
    Canonical JSON first: row keys are `str` subclasses, which orjson does not take as keys."""
    return etag_of("catalog", kind.section, json.dumps(representation, sort_keys=True, default=str))


def put_responses(model: type) -> dict[int | str, Any]:
    """The OpenAPI responses of a PUT: 201 created, 200 updated or unchanged, both with the ETag."""
    return {200: {"description": "Updated, or unchanged (the same content again)", "headers": ETAG_HEADER},
            201: {"description": "Created", "model": model, "headers": ETAG_HEADER},
            **problem_responses(412, 428)}


def show(kind: CatalogKind, code: str, request: Request, response: Response) -> dict[str, Any]:
    """GET one resource of the caller's tenant with its ETag; 404 for anyone else's."""
    with reader(ctx_of(request).engine).connect() as conn:
        found = kind.read(conn, caller(request).tenant_id, code)
    if found is None:
        raise not_found(kind.what, code)
    response.headers["ETag"] = resource_etag(kind, found)
    return found


def locked(conn: Connection, kind: CatalogKind, tenant_id: int, code: str) -> dict[str, Any] | None:
    """The resource with its row locked until the transaction ends (FOR UPDATE; SQLite's write
    transactions are exclusive already), or None if the tenant has no such code."""
    table = kind.table
    row = conn.execute(select(table.c.id).where(table.c.tenant_id == tenant_id, table.c.code == code)
                       .with_for_update()).first()
    return None if row is None else kind.read(conn, tenant_id, code)


def put(kind: CatalogKind, code: str, body: WriteModel, request: Request, response: Response) -> Any:
    """Create or update one resource by applying it as a one-record document; 201 if it was created."""
    tenant_id = caller(request).tenant_id
    item = _item(body, code)
    with ctx_of(request).engine.begin() as conn:
        current = locked(conn, kind, tenant_id, code)
        _check_preconditions(request, kind, code, current)
        try:
            apply_document(conn, tenant_id, {kind.section: [item]})
        except ApplyError as exc:
            raise _refused(kind, code, exc) from None
        after = kind.read(conn, tenant_id, code)  # apply wrote the code or raised
    response.headers["ETag"] = resource_etag(kind, after)
    response.status_code = 201 if current is None else 200
    return after


def _item(body: WriteModel, code: str) -> dict[str, Any]:
    """The body as a document item with the path's code: only the fields sent and not null, so its content
    hash is the document's; a different code in the body would be a rename, which codes do not allow."""
    item = body.model_dump(exclude_unset=True, exclude_none=True)
    if item.setdefault("code", code) != code:
        raise ApiProblem(422, f"the body's code {item['code']!r} differs from the path's {code!r}: a resource is "
                              "identified by its code and cannot be renamed",
                         errors=[field_error("code", f"differs from the code in the path ({code!r})")])
    return item


def _check_preconditions(request: Request, kind: CatalogKind, code: str, current: dict[str, Any] | None) -> None:
    """If-None-Match first, so a create-only PUT on an existing resource is 412 rather than 428."""
    if current is None:
        if request.headers.get("if-match") is not None:
            raise ApiProblem(412, f"{kind.what} {code!r} does not exist in this tenant, and If-Match applies only "
                                  "to an existing resource; send no If-Match to create it",
                             errors=[field_error("If-Match", "no such resource", pointer="", where="header")])
        return
    etag = resource_etag(kind, current)
    _check_if_none_match(request, kind, code, etag)
    check_if_match(request, etag, required=True)


def _check_if_none_match(request: Request, kind: CatalogKind, code: str, etag: str) -> None:
    header = request.headers.get("if-none-match")
    if header is None:
        return
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    if "*" in tags or etag in tags:
        raise ApiProblem(412, f"{kind.what} {code!r} already exists (If-None-Match asked to create only); read it "
                              "and update it with If-Match instead", current_etag=etag,
                         errors=[field_error("If-None-Match", "the resource exists", pointer="", where="header")])


def _refused(kind: CatalogKind, code: str, exc: ApplyError) -> ApiProblem:
    """Apply's problems as field errors of this body (`versions[1].effective_from` -> /versions/1/...)."""
    errors = [field_error(p.field, p.message) for p in exc.problems]
    if len(exc.problems) == 1:
        p = exc.problems[0]
        why = f"{p.field}: {p.message}" if p.field else p.message
    else:
        why = f"{len(exc.problems)} problems ({', '.join(dict.fromkeys(p.field or '-' for p in exc.problems))})"
    return ApiProblem(422, f"{kind.what} {code!r} was not applied, nothing was written: {why}", errors=errors)
