"""ETags and If-Match: updates that would silently overwrite someone else's change are refused.

A resource's ETag is a hash of the fields an update depends on (a case's status, assignee, queue, ...; the
tenant's current policy version). A client reads the resource, sends its ETag back as `If-Match`, and the
update runs only if the resource has not changed in between: otherwise 412 with the current ETag. The
check runs inside the update's transaction with the row locked, so it cannot race the update itself.
Endpoints that require it answer 428 when If-Match is missing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request

from invoiceflow.api.problems import ApiProblem, field_error


def etag_of(*parts: Any) -> str:
    raw = orjson.dumps(parts, default=str, option=orjson.OPT_SORT_KEYS)
    return '"' + hashlib.sha256(raw).hexdigest()[:24] + '"'


def check_if_match(request: Request, current: str, *, required: bool) -> None:
    """Pass if If-Match names `current` (or is `*`); 412 if it names another, 428 if missing and required."""
    header = request.headers.get("if-match")
    if header is None:
        if required:
            raise ApiProblem(428, "this update needs If-Match with the resource's current ETag (read it first)",
                             current_etag=current,
                             errors=[field_error("If-Match", "required", pointer="", where="header")])
        return
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    if "*" in tags or current in tags:
        return
    raise ApiProblem(412, "the resource changed since you read it (If-Match does not match its current ETag); "
                          "read it again and retry", current_etag=current,
                     errors=[field_error("If-Match", "does not match the current ETag", pointer="", where="header")])
