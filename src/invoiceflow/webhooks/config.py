"""A tenant's configuration of an inbound source: signing secret (with rotation), tolerance, field mapping.

Secrets are stored as given, because verifying an HMAC needs the secret itself; they are never returned
(the API shows the last four characters). A new secret does not lock the sender out mid-rotation: the
previous one stays valid for ROTATION_GRACE, so the sender can switch at any time within that window.
Every change is audited (without the secret).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import Connection, insert, select, update

from invoiceflow.audit.log import append_entry
from invoiceflow.effects.model import utc
from invoiceflow.errors import Problem, ValidationError
from invoiceflow.store.tables import tenants
from invoiceflow.store.webhook_tables import integration_sources
from invoiceflow.webhooks.schemas import mapping_problems
from invoiceflow.webhooks.signatures import DEFAULT_TOLERANCE
from invoiceflow.webhooks.sources import SOURCES

ROTATION_GRACE = timedelta(hours=24)
MIN_SECRET, MAX_SECRET = 16, 200
MAX_TOLERANCE = 3600


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """What verifying and processing a delivery needs; `secrets` holds the current (and rotating) secret."""

    tenant_id: int
    tenant: str
    source: str
    secrets: tuple[str, ...] = ()
    tolerance: int = DEFAULT_TOLERANCE
    active: bool = True
    mapping: Mapping[str, str] = field(default_factory=dict)
    mapping_version: int = 0


def load_config(conn: Connection, tenant: str | int, source: str, *, at: datetime) -> SourceConfig | None:
    """The configuration of `source` for tenant `tenant` (code or id), or None if either does not exist."""
    where = tenants.c.code == tenant if isinstance(tenant, str) else tenants.c.id == tenant
    row = conn.execute(select(integration_sources, tenants.c.code.label("tenant_code"))
                       .join(tenants, tenants.c.id == integration_sources.c.tenant_id)
                       .where(where, integration_sources.c.source == source)).mappings().first()
    if row is None:
        return None
    secrets = tuple(s for s in (row["secret"],) if s)
    until = row["previous_valid_until"]
    if row["previous_secret"] and until is not None and _aware(until) > at:
        secrets += (row["previous_secret"],)
    return SourceConfig(int(row["tenant_id"]), row["tenant_code"], source, secrets, int(row["tolerance_seconds"]),
                        bool(row["active"]), dict(row["mapping"] or {}), int(row["mapping_version"]))


def read_source(conn: Connection, tenant_id: int, source: str) -> dict[str, Any] | None:
    row = conn.execute(select(integration_sources).where(integration_sources.c.tenant_id == tenant_id,
                                                         integration_sources.c.source == source)).mappings().first()
    return None if row is None else dict(row)


def view(row: Mapping[str, Any] | None, source: str, tenant: str, *, at: datetime) -> dict[str, Any]:
    """The configuration as the API shows it: never the secret, only whether one is set and its last 4."""
    row = row or {}
    until = row.get("previous_valid_until")
    rotating = bool(row.get("previous_secret")) and until is not None and _aware(until) > at
    return {"source": source, "title": SOURCES[source].title, "signature_header": SOURCES[source].header,
            "events_url": f"/v1/integrations/{source}/events?tenant={tenant}",
            "has_secret": bool(row.get("secret")),
            "secret_hint": ("…" + row["secret"][-4:]) if row.get("secret") else None,
            "previous_secret_valid_until": _aware(until) if rotating else None,
            "tolerance_seconds": int(row.get("tolerance_seconds") or DEFAULT_TOLERANCE),
            "active": bool(row.get("active", True)), "mapping": dict(row.get("mapping") or {}),
            "mapping_version": int(row.get("mapping_version") or 0), "updated_at": row.get("updated_at"),
            "event_types": sorted(SOURCES[source].kinds)}


def configure(conn: Connection, tenant_id: int, source: str, *, secret: str | None, tolerance: int | None,
              active: bool | None, actor: str, at: datetime) -> dict[str, Any]:
    """Set the secret (rotating the old one out), tolerance or active flag; the stored row."""
    problems = []
    if secret is not None and not (MIN_SECRET <= len(secret) <= MAX_SECRET and secret.isprintable()
                                   and secret == secret.strip()):
        problems.append(Problem("integration", "secret", f"a secret has {MIN_SECRET} to {MAX_SECRET} printable "
                                                         "characters without surrounding spaces"))
    if tolerance is not None and not 1 <= tolerance <= MAX_TOLERANCE:
        problems.append(Problem("integration", "tolerance_seconds", f"must be 1 to {MAX_TOLERANCE} seconds"))
    if problems:
        raise ValidationError(problems)
    row = _locked_or_new(conn, tenant_id, source, actor, at)
    values: dict[str, Any] = {"updated_at": at, "updated_by": actor}
    if secret is not None and secret != row["secret"]:
        values.update(secret=secret, previous_secret=row["secret"],
                      previous_valid_until=at + ROTATION_GRACE if row["secret"] else None)
    if tolerance is not None:
        values["tolerance_seconds"] = tolerance
    if active is not None:
        values["active"] = active
    conn.execute(update(integration_sources).where(integration_sources.c.id == row["id"]).values(**values))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="integration.configured",
                 object_type="integration_source", object_id=source, at=at, payload={
                     "secret_changed": "secret" in values, "tolerance_seconds": tolerance, "active": active})
    return read_source(conn, tenant_id, source) or {}


def set_mapping(conn: Connection, tenant_id: int, source: str, mapping: Mapping[str, Any], *, actor: str,
                at: datetime, row: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Replace the field mapping (the next version); refused with every bad entry named."""
    problems = [Problem("mapping", f, m) for f, m in mapping_problems(mapping)]
    if len(mapping) > 200:
        problems.append(Problem("mapping", "fields", f"{len(mapping)} entries; the limit is 200"))
    if problems:
        raise ValidationError(problems)
    row = row or _locked_or_new(conn, tenant_id, source, actor, at)
    if dict(row["mapping"] or {}) == dict(mapping):
        return dict(row)
    version = int(row["mapping_version"]) + 1
    conn.execute(update(integration_sources).where(integration_sources.c.id == row["id"]).values(
        mapping=dict(mapping), mapping_version=version, updated_at=at, updated_by=actor))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="integration.mapping_set",
                 object_type="integration_source", object_id=source, at=at,
                 payload={"mapping": dict(mapping), "version": version, "previous": dict(row["mapping"] or {})})
    return read_source(conn, tenant_id, source) or {}


def locked_source(conn: Connection, tenant_id: int, source: str, actor: str, at: datetime) -> dict[str, Any]:
    """The source's row, locked for an update in this transaction (created unconfigured if missing)."""
    return _locked_or_new(conn, tenant_id, source, actor, at)


def _locked_or_new(conn: Connection, tenant_id: int, source: str, actor: str, at: datetime) -> dict[str, Any]:
    query = select(integration_sources).where(integration_sources.c.tenant_id == tenant_id,
                                              integration_sources.c.source == source)
    row = conn.execute(query.with_for_update()).mappings().first()
    if row is None:
        conn.execute(insert(integration_sources).values(
            tenant_id=tenant_id, source=source, tolerance_seconds=DEFAULT_TOLERANCE, active=True, mapping={},
            mapping_version=0, updated_at=at, updated_by=actor))
        row = conn.execute(query.with_for_update()).mappings().one()
    return dict(row)


def _aware(value: datetime) -> datetime:
    return utc(value)  # type: ignore[return-value] - SQLite reads stored UTC back naive
