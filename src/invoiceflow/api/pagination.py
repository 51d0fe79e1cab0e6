"""Cursor pagination: `?limit=&cursor=` in, `{data, next_cursor, has_more}` out.

Cursors are opaque to clients but simple inside: the id of the last row served and the list they belong to,
base64url-encoded. Keyset pagination stays correct while rows are added (no skipped or repeated rows as
with offsets) and costs one index range scan per page however deep the client pages.
"""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Column, Connection, Select

from invoiceflow.api.problems import ApiProblem, field_error

T = TypeVar("T")
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = None
    has_more: bool = False


class PageParams:
    """The `limit` and `cursor` query parameters every list endpoint takes."""

    def __init__(self, limit: int = Query(50, ge=1, le=MAX_LIMIT, description="Items per page (1 to 500)."),
                 cursor: str | None = Query(None, max_length=200, description="`next_cursor` of the previous page.")):
        self.limit, self.cursor = limit, cursor


def encode_cursor(scope: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"s": scope, "k": last_id})).decode().rstrip("=")


def decode_cursor(scope: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] == scope and type(data["k"]) is int:
            return data["k"]
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        pass
    raise ApiProblem(422, "cursor is not a cursor of this list (pass next_cursor from the previous page)",
                     errors=[field_error("cursor", "not a cursor of this list", pointer="cursor", where="query")])


def fetch_page(conn: Connection, query: Select, id_column: Column, scope: str, params: PageParams, *,
               newest_first: bool = False) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of one page (as dicts) and the cursor of the next page, or None at the end."""
    after = decode_cursor(scope, params.cursor)
    if after is not None:
        query = query.where(id_column < after if newest_first else id_column > after)
    query = query.order_by(id_column.desc() if newest_first else id_column).limit(params.limit + 1)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[:params.limit]
    return rows, encode_cursor(scope, int(rows[-1][id_column.name]))


def page_of(items: list, cursor: str | None) -> dict[str, Any]:
    return {"data": items, "next_cursor": cursor, "has_more": cursor is not None}
