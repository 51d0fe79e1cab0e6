"""The people of a tenant and their roles: who may approve, resolve cases or change policy.

Roles: admin, finance, revops, tax, collections, support, approver, auditor (read-only). Role changes are
audited. Checks read roles at the moment of the action, in its transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.audit.log import append_entry
from invoiceflow.errors import ValidationError
from invoiceflow.store.review_tables import members

ROLES = ("admin", "finance", "revops", "tax", "collections", "support", "approver", "auditor")
QUEUES = ("finance", "revops", "tax", "collections", "support")
AUTOMATION = "auto-release"  # the actor of releases the policy allows without a person


def set_member(conn: Connection, tenant_id: int, name: str, roles: Iterable[str], *, actor: str,
               at: datetime) -> tuple[str, ...]:
    """Give `name` exactly `roles` (idempotent); an empty set removes every role."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise ValidationError("a member name has 1 to 128 characters", field="name")
    if name == AUTOMATION:
        raise ValidationError(f"{AUTOMATION!r} is reserved for automatic releases", field="name")
    wanted = tuple(sorted(set(roles)))
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise ValidationError(f"unknown role(s) {', '.join(unknown)} (known: {', '.join(ROLES)})", field="role")
    if roles_of(conn, tenant_id, name) == wanted:
        return wanted
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(members).values(tenant_id=tenant_id, name=name, roles=list(wanted), updated_at=at)
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant_id", "name"],
                                            set_={"roles": list(wanted), "updated_at": at}))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="team.roles_set", object_type="member",
                 object_id=name, at=at, payload={"roles": list(wanted)})
    return wanted


def roles_of(conn: Connection, tenant_id: int, name: str) -> tuple[str, ...]:
    found = conn.execute(select(members.c.roles).where(members.c.tenant_id == tenant_id,
                                                       members.c.name == name)).scalar()
    return tuple(found or ())


def team(conn: Connection, tenant_id: int) -> list[tuple[str, tuple[str, ...]]]:
    rows = conn.execute(select(members.c.name, members.c.roles).where(members.c.tenant_id == tenant_id)
                        .order_by(members.c.name))
    return [(r.name, tuple(r.roles)) for r in rows if r.roles]


def require_role(conn: Connection, tenant_id: int, actor: str, allowed: Iterable[str], *, doing: str) -> None:
    """Raise unless `actor` holds one of `allowed` (admin included only when listed)."""
    allowed = tuple(allowed)
    held = roles_of(conn, tenant_id, actor)
    if not set(held) & set(allowed):
        has = ", ".join(held) if held else "no role"
        raise RoleRequired(f"{actor} cannot {doing}: it needs the role {' or '.join(allowed)} and {actor} has "
                           f"{has} (invoiceflow team set {actor} --role ...)")


class RoleRequired(ValidationError):
    """The actor lacks the role an action needs; nothing changed (the refusal is audited where it matters)."""
