"""The route class every guarded endpoint uses: authenticate, rate-limit, then run idempotently.

Putting this in the route class, not in middleware, keeps it next to the routing decision: a route built
with `ApiRoute` must declare exactly one permission (`allow(...)` in its dependencies) or the app refuses
to start, and its OpenAPI operation is documented with that permission, the bearer security scheme, the
`Idempotency-Key` header (POST) and every problem response it can give; `operation_id` gives each
operation its short id. Order per request:

1. authenticate the bearer credential (401), 2. spend a token of the tenant's bucket (429),
3. for POST, PUT and PATCH: refuse oversized bodies (413); for POST with an Idempotency-Key, replay or
   reserve,
4. run the endpoint (the permission dependency answers 403 first).
"""

from __future__ import annotations

import itertools
import logging
import re
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
_WITH_BODY = {"POST", "PUT", "PATCH"}  # bodies are size-checked before any handler reads them
_PRECONDITIONS = {412: "If-Match does not match the current ETag", 428: "If-Match is required"}
_VERSION = re.compile(r"^v\d+$")  # /v1: not a resource
IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "description": "Any unique string (e.g. a UUID): a retry with the same key and body returns "
                                     "the first response; kept 24 h.",
                      "schema": {"type": "string", "minLength": 1, "maxLength": 255}}


def problem_responses(*codes: int) -> dict[int, Any]:
    texts = {**_PROBLEMS, **_PRECONDITIONS}
    return {c: {"description": texts[c], "content": {PROBLEM_JSON: {"schema": problem_schema()}}}
            for c in codes}


def operation_id(route: APIRoute) -> str:
    """A short, stable operationId: the endpoint's name (`list_customers`), which generated clients turn into
    function and model names. It depends on the route alone, so adding a route never renames another.

    Two kinds of name need the path's resource to say what they act on: a bare verb (`get` on
    /v1/effects/{effect_id} is `get_effect`), and an endpoint defined once per prefix or source in a loop,
    whose function name all its copies share (`list_events` on /v1/integrations/crm/events is
    `list_crm_events`). The resource is the innermost path segment before the first parameter that the name
    does not already say; it replaces a noun the path never uses (`get_document` on /v1/credit-notes/{id} is
    `get_credit_note`) and otherwise follows the verb (`get_invoice_history`). A name given with `name=` is
    taken as it is: its author made it specific.
    """
    name = _snake(route.name)
    if route.name != getattr(route.endpoint, "__name__", route.name):
        return name
    words = name.split("_")
    segments = [s for s in route.path.split("/") if s and not _VERSION.match(s)]
    path_words = {_singular(w) for s in segments if not s.startswith("{") for w in _snake(s).split("_")}
    name_words = {_singular(w) for w in words}
    made_in_loop = "<locals>" in getattr(route.endpoint, "__qualname__", "")
    if not made_in_loop and (len(words) > 1 or name_words & path_words):
        return name
    resource = [_snake(s) for s in itertools.takewhile(lambda s: not s.startswith("{"), segments)]
    unsaid = [s for s in resource if not {_singular(w) for w in s.split("_")} <= name_words]
    if not unsaid:
        return name
    qualifier, (verb, *noun) = unsaid[-1], words
    if noun and not {_singular(w) for w in noun} & path_words:
        return f"{verb}_{qualifier if noun[-1].endswith('s') else _singular_of(qualifier)}"
    return "_".join([verb, _singular_of(qualifier), *noun])


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _singular_of(snake: str) -> str:
    head, _, last = snake.rpartition("_")
    return f"{head}_{_singular(last)}" if head else _singular(last)


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
            if request.method not in _WITH_BODY:
                return await handler(request)
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > ctx.settings.max_body_bytes:
                raise ApiProblem(413, f"request body over {ctx.settings.max_body_bytes} bytes")
            if len(await request.body()) > ctx.settings.max_body_bytes:
                raise ApiProblem(413, f"request body over {ctx.settings.max_body_bytes} bytes")
            if request.method != "POST":
                return await handler(request)
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
