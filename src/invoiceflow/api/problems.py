"""RFC 9457 problem details: every error the API returns is `application/problem+json`.

Integrators parse one error shape everywhere, so product errors, request validation, authentication and
rate limits all end up here. Field-level problems go in the `errors` extension member, each with a JSON
pointer into the request (`/events/3/timestamp`), the dotted field name and what is wrong with it.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from invoiceflow.errors import ConflictError, InvoiceflowError, NotFound, Problem, ValidationError
from invoiceflow.lifecycle.states import TransitionRefused
from invoiceflow.review.resolve import CaseRefused
from invoiceflow.team import RoleRequired

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://invoiceflow.dev/problems/"
log = logging.getLogger("invoiceflow.api")

TITLES = {
    400: "Bad request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 412: "Precondition failed", 413: "Request too large",
    415: "Unsupported media type", 422: "Invalid request", 428: "Precondition required",
    429: "Too many requests", 500: "Internal error", 503: "Service unavailable",
}


class ApiProblem(Exception):
    """Raise anywhere in the API to answer with a problem document."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None, title: str | None = None,
                 errors: Iterable[dict[str, Any]] = (), headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.kind = kind or _slug(TITLES.get(status, "error"))
        self.title = title or TITLES.get(status, "Error")
        self.errors = list(errors)
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": TYPE_BASE + self.kind, "title": self.title, "status": self.status,
                               "detail": self.detail}
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = self.errors
        doc.update(self.extra)
        return doc


def problem_response(problem: ApiProblem, instance: str | None = None) -> Response:
    return Response(orjson.dumps(problem.body(instance)), status_code=problem.status, media_type=PROBLEM_JSON,
                    headers=problem.headers)


def field_error(field: str, detail: str, *, pointer: str | None = None, where: str = "body",
                record: str = "") -> dict[str, Any]:
    out = {"field": field, "pointer": pointer if pointer is not None else _pointer(field), "in": where,
           "detail": detail}
    if record:
        out["record"] = record
    return out


def from_domain_problems(problems: Iterable[Problem], *, record_pointer=None) -> list[dict[str, Any]]:
    """Domain `Problem(record, field, message)` items as field errors; `record_pointer` maps a record
    label to a JSON pointer prefix (e.g. "events[3]" -> "/events/3")."""
    out = []
    for p in problems:
        prefix = record_pointer(p.record) if record_pointer else None
        pointer = (prefix or "") + ("/" + p.field.replace(".", "/") if p.field else "")
        field = ".".join(x for x in (p.record if prefix else "", p.field) if x) or p.record
        out.append(field_error(field, p.message, pointer=pointer if prefix is not None or p.field else "",
                               record=p.record))
    return out


def domain_problem(exc: InvoiceflowError) -> ApiProblem:
    """The status and shape a product error maps to."""
    if isinstance(exc, RoleRequired):
        return ApiProblem(403, str(exc), kind="role-required")
    if isinstance(exc, TransitionRefused):
        if exc.rule in ("segregation_of_duties", "role"):  # who acts, not what is asked: forbidden
            return ApiProblem(403, str(exc), kind=exc.rule.replace("_", "-"), title="Action refused", rule=exc.rule)
        if exc.rule == "reason_required":
            return ApiProblem(422, str(exc), kind="reason-required", rule=exc.rule,
                              errors=[field_error("reason", str(exc))])
        return ApiProblem(409, str(exc), kind="action-refused", title="Action refused", rule=exc.rule)
    if isinstance(exc, CaseRefused):
        return ApiProblem(409, str(exc), kind="action-refused", title="Action refused", rule="refused")
    if isinstance(exc, ValidationError):
        return ApiProblem(422, str(exc).splitlines()[0] if len(exc.problems) > 1 else str(exc),
                          errors=from_domain_problems(exc.problems))
    if isinstance(exc, NotFound):
        return ApiProblem(404, str(exc))
    if isinstance(exc, ConflictError):
        return ApiProblem(409, str(exc))
    return ApiProblem(400, str(exc))


def validation_problem(exc: RequestValidationError) -> ApiProblem:
    """Pydantic/FastAPI request errors: 400 for JSON that does not parse, 422 naming each field otherwise."""
    errors = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        where = str(loc.pop(0)) if loc and loc[0] in ("body", "query", "path", "header") else "body"
        if err.get("type") == "json_invalid":
            position = err.get("ctx", {}).get("error", "")
            return ApiProblem(400, f"the request body is not valid JSON ({position})".replace(" ()", ""),
                              kind="malformed-json", title="Malformed JSON",
                              errors=[field_error("", "not valid JSON", pointer="", where="body")])
        field = _dotted(loc)
        message = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            message = "unknown field (not part of this request's schema)"
        elif err.get("type") == "missing":
            message = "required"
        errors.append(field_error(field, message, where=where,
                                  pointer=_pointer_from(loc) if where == "body" else field))
    names = ", ".join(dict.fromkeys(e["field"] or e["in"] for e in errors))
    return ApiProblem(422, f"{len(errors)} invalid field(s): {names}", errors=errors)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def on_problem(request: Request, exc: ApiProblem) -> Response:
        return problem_response(exc, request.url.path)

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(validation_problem(exc), request.url.path)

    async def on_domain(request: Request, exc: InvoiceflowError) -> Response:
        return problem_response(domain_problem(exc), request.url.path)

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        problem = ApiProblem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
        return problem_response(problem, request.url.path)

    async def on_integrity(request: Request, exc: IntegrityError) -> Response:
        log.info("integrity conflict on %s: %s", request.url.path, exc.orig)
        return problem_response(ApiProblem(409, "the request conflicts with a concurrent change; read the "
                                                "resource again and retry"), request.url.path)

    async def on_busy(request: Request, exc: OperationalError) -> Response:
        log.warning("database busy on %s: %s", request.url.path, exc.orig)
        return problem_response(ApiProblem(503, "the database is busy; retry shortly",
                                           headers={"Retry-After": "1"}), request.url.path)

    async def on_data(request: Request, exc: DataError) -> Response:
        log.info("value refused by the database on %s: %s", request.url.path, exc.orig)
        return problem_response(ApiProblem(422, "a value is out of range or of the wrong type for the database"),
                                request.url.path)

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(DataError, on_data)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(InvoiceflowError, on_domain)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(IntegrityError, on_integrity)
    app.add_exception_handler(OperationalError, on_busy)


PROBLEM_REF = "#/components/schemas/Problem"


def problem_schema() -> dict[str, Any]:
    """The schema of every error response: a reference to the one `Problem` the document publishes, so a
    generated client has a single error type rather than a copy per status of every operation."""
    return {"$ref": PROBLEM_REF}


def problem_components() -> dict[str, dict[str, Any]]:
    """The component schemas `problem_schema` refers to. Extension members (`rule`, `current_etag`, ...) vary
    by problem, hence `additionalProperties`."""
    error = {"type": "object", "required": ["field", "detail"], "properties": {
        "field": {"type": "string", "description": "The dotted field name (`events[3].timestamp`)."},
        "pointer": {"type": "string", "description": "A JSON pointer into the request body (`/events/3/timestamp`)."},
        "in": {"type": "string", "description": "Where the field is: body, query, path or header."},
        "detail": {"type": "string", "description": "What is wrong with it."},
        "record": {"type": "string", "description": "The record of a document or batch it belongs to."}},
        "description": "One invalid field of the request."}
    problem = {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"}, "status": {"type": "integer", "description": "The HTTP status."},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "instance": {"type": "string", "description": "The path of the request."},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemFieldError"}}},
        "additionalProperties": True, "description": "An RFC 9457 problem document (application/problem+json)."}
    return {"Problem": problem, "ProblemFieldError": error}


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def _dotted(loc: list) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pointer_from(loc: list) -> str:
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in loc)


def _pointer(field: str) -> str:
    return "/" + field.replace("[", ".").replace("]", "").replace(".", "/") if field else ""
