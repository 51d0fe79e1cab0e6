"""Permissions: the one table that says which roles may do what through the API.

Every route declares exactly one permission (`allow("invoices.read")`); the route class refuses to build a
route without one, so an endpoint cannot ship unguarded. The roles are those of invoiceflow.team. The
auditor is read-only: it holds only `*.read` permissions and every POST refuses it. The API check is the
outer fence; the domain still applies its own rules (an approval level's role, segregation of duties, a
case's queue), so a caller needs both the API permission and whatever the action itself demands.
"""

from __future__ import annotations

from fastapi import Depends, Request

from invoiceflow.team import ROLES

EVERYONE = frozenset(ROLES)
STAFF = EVERYONE - {"auditor"}

PERMISSIONS: dict[str, frozenset[str]] = {
    "catalog.read": EVERYONE,
    "catalog.write": frozenset({"admin", "revops"}),
    "usage.read": frozenset({"admin", "finance", "revops", "support", "auditor"}),
    "usage.write": frozenset({"admin", "revops"}),
    "bill_runs.read": frozenset({"admin", "finance", "revops", "auditor"}),
    "bill_runs.write": frozenset({"admin", "finance"}),
    "invoices.read": EVERYONE,
    "invoices.release": frozenset({"admin", "finance"}),  # validate, submit, issue, reject, void
    "invoices.approve": frozenset({"admin", "finance", "approver"}),
    "invoices.credit": frozenset({"admin", "finance"}),  # raise a draft credit note against an issued invoice
    "cases.read": EVERYONE,
    "cases.work": frozenset({"admin", "finance", "revops", "tax", "collections", "support"}),
    "cases.approve_override": frozenset({"admin", "finance", "approver"}),
    "policies.read": EVERYONE,
    "policies.validate": STAFF,
    "policies.write": frozenset({"admin"}),
    "audit.read": frozenset({"admin", "finance", "auditor"}),
    "effects.read": frozenset({"admin", "finance", "auditor"}),
    "effects.write": frozenset({"admin", "finance"}),
    "reports.read": EVERYONE,
    "integrations.read": frozenset({"admin", "finance", "revops", "auditor"}),  # config, mapping, drift, events
    "integrations.write": frozenset({"admin", "finance", "revops"}),  # field mapping, replay
    "integrations.configure": frozenset({"admin"}),  # signing secrets, tolerance, on/off
    # Inbound events are authenticated by their HMAC signature, which acts with the pseudo-role
    # "integration"; no team member (and so no API key) can hold it (api/routes/integrations.py).
    "integrations.receive": frozenset({"integration"}),
    "webhooks.read": frozenset({"admin", "finance", "revops", "auditor"}),
    "webhooks.write": frozenset({"admin"}),  # endpoints decide where tenant data goes
    "access.read": frozenset({"admin", "auditor"}),  # API keys (never secrets) and team members
    "access.manage": frozenset({"admin"}),  # create and revoke keys, set members' roles
}


def roles_for(permission: str) -> frozenset[str]:
    return PERMISSIONS[permission]


def allow(permission: str):
    """The dependency that lets a request through only if the caller holds a role with `permission`."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    allowed = PERMISSIONS[permission]

    def check(request: Request) -> None:
        from invoiceflow.api.problems import ApiProblem

        principal = request.state.principal
        if not principal.roles & allowed:
            held = ", ".join(sorted(principal.roles)) or "no role"
            raise ApiProblem(403, f"{principal.member} cannot use this endpoint: it needs the permission "
                                  f"{permission} (roles: {', '.join(sorted(allowed))}) and the credential has "
                                  f"{held}", kind="permission-denied", permission=permission)

    check.permission = permission  # type: ignore[attr-defined] - read by ApiRoute and the permission tests
    return Depends(check)
