"""The role x endpoint permission matrix, generated from the app's own route table.

Every guarded route is called once per role with a key that holds only that role. Roles the permission
table allows must never get the permission refusal; every other role must get 403 problem+json naming the
permission. Requests aim at objects that do not exist and send a body with an unknown field, so allowed
calls stop at 404/422 and the matrix itself changes nothing.
"""

from __future__ import annotations

import re

from conftest import auth

from invoiceflow.api.app import all_routes
from invoiceflow.api.permissions import PERMISSIONS
from invoiceflow.api.routing import ApiRoute
from invoiceflow.team import ROLES

PLACEHOLDERS = {"queue": "tax", "version": "999999"}


def guarded_routes(app) -> list[tuple[str, str, str]]:
    out = []
    for route in all_routes(app):
        if isinstance(route, ApiRoute):
            for method in sorted(route.methods - {"HEAD"}):
                out.append((method, route.path, route.permission))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), "999999"), path)


def test_every_route_declares_a_known_permission(app):
    routes = guarded_routes(app)
    assert len(routes) > 50
    assert {permission for _, _, permission in routes} <= set(PERMISSIONS)
    public = {r.path for r in all_routes(app) if not isinstance(r, ApiRoute) and hasattr(r, "methods")}
    assert public <= {"/v1/oauth/token", "/health", "/openapi.json", "/docs", "/docs/oauth2-redirect"}


def test_auditor_is_read_only():
    for permission, roles in PERMISSIONS.items():
        if "auditor" in roles:
            assert permission.endswith(".read"), permission


def test_role_by_endpoint_matrix(world, client):
    _, alpha, _ = world
    failures = []
    for method, path, permission in guarded_routes(client.app):
        allowed = PERMISSIONS[permission]
        for role in ROLES:
            kwargs = {"json": {"zz_unknown_field": 1}} if method == "POST" else {}
            response = client.request(method, concrete(path), headers=auth(alpha.keys[role]), **kwargs)
            denied = (response.status_code == 403
                      and response.json().get("type", "").endswith("/permission-denied"))
            if role in allowed and denied:
                failures.append(f"{role} refused on {method} {path} ({permission})")
            if role not in allowed:
                if not denied or response.headers["content-type"] != "application/problem+json":
                    failures.append(f"{role} not refused on {method} {path}: {response.status_code}")
                elif response.json().get("permission") != permission:
                    failures.append(f"{method} {path}: wrong permission named")
            if response.status_code >= 500:
                failures.append(f"{role} {method} {path}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


def test_unauthenticated_requests_are_refused_everywhere(world, client):
    for method, path, _ in guarded_routes(client.app):
        for headers in ({}, {"Authorization": "Bearer ifk_nope_nope"}, {"Authorization": "Bearer not-a-jwt"},
                        {"Authorization": "Basic abc"}):
            response = client.request(method, concrete(path), headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
