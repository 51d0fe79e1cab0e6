"""The route class every guarded endpoint uses: authenticate, rate-limit, then run idempotently.

Putting this in the route class, not in middleware, keeps it next to the routing decision: a route built
with `ApiRoute` must declare exactly one permission (`allow(...)` in its dependencies) or the app refuses
to start, and its OpenAPI operation is documented with that permission, the bearer security scheme, the
`Idempotency-Key` header (POST) and every problem response it can give. Order per request:

1. authenticate the bearer credential (401), 2. spend a token of the tenant's bucket (429),
3. for POST: refuse oversized bodies (413) and, with an Idempotency-Key, replay or reserve,
4. run the endpoint (the permission dependency answers 403 first).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Callable

from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from invoiceflow.api import idempotency
from invoiceflow.api.auth import authenticate
from invoiceflow.api.context import ApiContext
from invoiceflow.api.problems import PROBLEM_JSON, ApiProblem, domain_problem, problem_response, problem_schema
from invoiceflow.errors import InvoiceflowError

log = logging.getLogger("invoiceflow.api")
# Outcomes decided before the operation ran: not stored under the key, so a corrected retry runs.
_NOT_KEPT = {400, 401, 403, 412, 413, 428, 429}
_PROBLEMS = {400: "Malformed request", 401: "Missing or invalid credential", 403: "Permission denied",
             404: "Not found in this tenant", 409: "Conflict (state, concurrency or an idempotent request in "
             "progress)", 413: "Request too large", 422: "Invalid fields (each named in `errors`)",
             429: "Rate limit exceeded (see Retry-After)", 503: "Database busy (see Retry-After)"}
_PRECONDITIONS = {412: "If-Match does not match the current ETag", 428: "If-Match is required"}
IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "description": "Any unique string (e.g. a UUID): a retry with the same key and body returns "
                                     "the first response; kept 24 h.",
                      "schema": {"type": "string", "minLength": 1, "maxLength": 255}}


def problem_responses(*codes: int) -> dict[int, Any]:
    texts = {**_PROBLEMS, **_PRECONDITIONS}
    return {c: {"description": texts[c], "content": {PROBLEM_JSON: {"schema": problem_schema()}}}
            for c in codes}


class ApiRoute(APIRoute):
    """An authenticated, rate-limited, permission-checked route; POSTs honour Idempotency-Key."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any):
        kwargs["responses"] = {**problem_responses(*_PROBLEMS), **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)
        found = [d.dependency.permission for d in self.dependencies if hasattr(d.dependency, "permission")]
        if len(found) != 1:
            raise RuntimeError(f"route {sorted(self.methods)} {path} must declare exactly one permission")
        self.permission: str = found[0]
        extra: dict[str, Any] = {"x-permission": self.permission, "security": [{"bearer": []}]}
        if "POST" in self.methods:
            extra["parameters"] = [IDEMPOTENCY_HEADER]
        for key, value in (self.openapi_extra or {}).items():
            if isinstance(value, dict) and isinstance(extra.get(key), dict):
                extra[key] = {**extra[key], **value}
            elif isinstance(value, list) and isinstance(extra.get(key), list):
                extra[key] = extra[key] + value
            else:
                extra[key] = value
        self.openapi_extra = extra

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            ctx: ApiContext = request.app.state.api
            principal = await run_in_threadpool(authenticate, ctx, request.headers.get("authorization"))
            request.state.principal = principal
            ctx.limiter.take(principal.tenant_id)
            if request.method != "POST":
                return await handler(request)
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > ctx.settings.max_body_bytes:
                raise ApiProblem(413, f"request body over {ctx.settings.max_body_bytes} bytes")
            if len(await request.body()) > ctx.settings.max_body_bytes:
                raise ApiProblem(413, f"request body over {ctx.settings.max_body_bytes} bytes")
            key = request.headers.get("idempotency-key")
            if key is None:
                return await handler(request)
            return await _idempotent(ctx, request, principal.tenant_id, idempotency.check_key(key), handler)

        return guarded


async def _idempotent(ctx: ApiContext, request: Request, tenant_id: int, key: str, handler) -> Response:
    body = await request.body()
    digest = idempotency.fingerprint(request.method, request.url.path, request.url.query, body,
                                     request.headers.get("content-type", ""))
    now = ctx.clock.now()
    found = await run_in_threadpool(idempotency.reserve, ctx.engine, tenant_id, key, request.method,
                                    request.url.path, digest, now=now,
                                    ttl=timedelta(hours=ctx.settings.idempotency_ttl_hours))
    if isinstance(found, Response):
        return found
    try:
        response = await handler(request)
    except RequestValidationError:
        await run_in_threadpool(idempotency.release, ctx.engine, found)
        raise
    except ApiProblem as exc:
        response = problem_response(exc, request.url.path)
    except InvoiceflowError as exc:
        response = problem_response(domain_problem(exc), request.url.path)
    except BaseException:
        await run_in_threadpool(idempotency.release, ctx.engine, found)
        raise
    if response.status_code >= 500 or response.status_code in _NOT_KEPT:
        await run_in_threadpool(idempotency.release, ctx.engine, found)
    else:
        await run_in_threadpool(idempotency.complete, ctx.engine, found, response)
    return response
