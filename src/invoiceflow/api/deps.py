"""Small helpers every router uses: the shared context, the caller, the routers' common settings."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.requests import Request

from invoiceflow.api.auth import Principal
from invoiceflow.api.context import ApiContext
from invoiceflow.api.routing import ApiRoute

# Ids are BIGINT and versions INTEGER in the database: larger numbers are refused here, not by the driver.
Id = Annotated[int, Path(ge=1, le=2**63 - 1, description="The object's id.")]
Version = Annotated[int, Path(ge=0, le=2**31 - 1, description="A version number (0 = built-in default).")]


def api_router(tag: str) -> APIRouter:
    """A router whose routes are all guarded `ApiRoute`s."""
    return APIRouter(route_class=ApiRoute, tags=[tag])


def ctx_of(request: Request) -> ApiContext:
    return request.app.state.api


def caller(request: Request) -> Principal:
    return request.state.principal


def utc_now(ctx: ApiContext) -> datetime:
    return ctx.clock.now().astimezone(timezone.utc)


def not_found(what: str, key: object) -> Exception:
    from invoiceflow.api.problems import ApiProblem

    return ApiProblem(404, f"{what} {key!r} does not exist in this tenant")
