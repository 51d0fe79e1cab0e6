"""Composition of the REST API: `create_app(engine)` wires the routers, errors, auth and OpenAPI.

Every resource is one router module under api/routes; adding a capability (the inbound and outbound
webhooks are next) is a new module appended to ROUTERS, guarded by the same route class. The app holds no
global state: its context (engine, clock, settings, rate buckets, caches) lives on `app.state.api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine

from invoiceflow.api import idempotency, problems, tokens
from invoiceflow.api.context import ApiContext, ApiSettings
from invoiceflow.api.routing import operation_id
from invoiceflow.api.routes import bill_runs, cases, catalog, contracts, invoices, operations, policies, usage
from invoiceflow.api.routes import access, integrations, webhooks
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.team import ROLES

ROUTERS = (catalog, contracts, usage, bill_runs, invoices, cases, policies, operations, integrations, webhooks,
           access)
PURGE_EVERY_S = 3600
log = logging.getLogger("invoiceflow.api")


def create_app(engine: Engine, *, settings: ApiSettings | None = None, clock: Clock | None = None) -> FastAPI:
    """The ASGI app serving `engine` (schema already migrated: use bootstrap.open_engine)."""
    ctx = ApiContext(engine, settings or ApiSettings.from_env(), clock or SystemClock())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        task = asyncio.create_task(_purge_loop(ctx))
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(title="invoiceflow API", version="1", openapi_url="/openapi.json", docs_url="/docs",
                  redoc_url=None, lifespan=lifespan, generate_unique_id_function=operation_id,
                  description="Order-to-cash engine: catalog, usage, bill runs, invoices, review, policies, "
                              "audit and effects. Errors are RFC 9457 problem documents (docs/api.md).")
    app.state.api = ctx
    problems.install(app)
    app.include_router(tokens.router)
    for module in ROUTERS:
        app.include_router(module.router)

    @app.get("/health", tags=["meta"], openapi_extra={"x-permission": "public"})
    def health() -> dict[str, str]:
        """Liveness: answers without credentials and without touching the database."""
        return {"status": "ok"}

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """The app for `INVOICEFLOW_DATABASE_URL`: the factory each uvicorn worker process calls."""
    from invoiceflow.bootstrap import open_engine

    return create_app(open_engine())


def all_routes(app: FastAPI) -> list[Any]:
    """Every route of the app, including those of included routers (newer FastAPI versions keep included
    routers as nodes rather than copying their routes)."""
    out: list[Any] = []
    pending = list(app.router.routes)
    while pending:
        route = pending.pop(0)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            pending[:0] = list(inner.routes)
        else:
            out.append(route)
    return out


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "An API key (ifk_...) or an access token from /v1/oauth/token."},
        "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
            "tokenUrl": "/v1/oauth/token", "scopes": {role: f"act with the {role} role" for role in ROLES}}}},
    }
    _share_problem_schema(schema)
    app.openapi_schema = schema
    return schema


def _share_problem_schema(schema: dict[str, Any]) -> None:
    """Publish `Problem` once, and point FastAPI's own 422 answers at it: the app answers them with a problem
    document (problems.install), never with FastAPI's `HTTPValidationError`."""
    schemas, shared = schema["components"].setdefault("schemas", {}), problems.problem_components()
    if taken := sorted(shared.keys() & schemas.keys()):
        raise RuntimeError(f"the OpenAPI component names {taken} are reserved for the problem document")
    schemas.update(shared)
    fastapi_422 = {"$ref": "#/components/schemas/HTTPValidationError"}
    for operation in (op for item in schema.get("paths", {}).values() for op in item.values()
                      if isinstance(op, dict)):
        for response in operation.get("responses", {}).values():
            content = response.get("content", {})
            if content.get("application/json", {}).get("schema") == fastapi_422:
                response["content"] = {problems.PROBLEM_JSON: {"schema": problems.problem_schema()}}
    for name in ("HTTPValidationError", "ValidationError"):  # the first refers to the second
        if name not in _refs(schema):
            schemas.pop(name, None)


def _refs(node: Any) -> set[str]:
    """The names of the component schemas referenced anywhere under `node`."""
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


async def _purge_loop(ctx: ApiContext) -> None:
    """Forget idempotency keys past their expiry (at least 24 h old), hourly."""
    while True:
        try:
            purged = await run_in_threadpool(idempotency.purge_expired, ctx.engine, ctx.clock.now())
            if purged:
                log.info("purged %d expired idempotency keys", purged)
        except Exception:  # noqa: BLE001 - housekeeping must never take the server down
            log.exception("purging idempotency keys failed")
        await asyncio.sleep(PURGE_EVERY_S)
