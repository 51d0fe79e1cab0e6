"""Drift records: every field that differed from a source's schema, counted, with when it was first and
last seen, and the report `GET /v1/integrations/{source}/drift` shows.

One row per (tenant, source, schema version, field, kind), upserted in the transaction that stored the
event, so the report and the events never disagree. Kinds: `unknown` (a field the schema does not declare:
recorded, the event still processed), `missing` (a required field absent: the event is parked) and
`renamed` (missing, and an unknown field of the same object looks like its new name: the suggestion is the
mapping entry that fixes it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.effects.model import utc
from invoiceflow.store.webhook_tables import drift_records, inbound_events
from invoiceflow.webhooks.schemas import Checked, drift_path, sample
from invoiceflow.webhooks.sources import SOURCES

UNKNOWN, MISSING, RENAMED = "unknown", "missing", "renamed"


def record_drift(conn: Connection, tenant_id: int, source: str, checked: Checked, *, event_id: str | None,
                 at: datetime) -> int:
    """Count the drift `checked` found; the number of fields recorded."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for path, value in checked.unknown:
        rows.setdefault((drift_path(path), UNKNOWN), {"suggestion": None, "sample": sample(value)})
    for path in checked.missing:
        renamed = checked.renames.get(path)
        kind = RENAMED if renamed else MISSING
        rows.setdefault((drift_path(path), kind), {"suggestion": drift_path(renamed) if renamed else None,
                                                   "sample": None})
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for (path, kind), extra in rows.items():
        stmt = dialect.insert(drift_records).values(
            tenant_id=tenant_id, source=source, schema_version=checked.schema, field_path=path[:300], kind=kind,
            first_seen=at, last_seen=at, occurrences=1, last_event_id=event_id, **extra)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "source", "schema_version", "field_path", "kind"],
            set_={"last_seen": at, "occurrences": drift_records.c.occurrences + 1, "last_event_id": event_id,
                  "suggestion": stmt.excluded.suggestion, "sample": func.coalesce(stmt.excluded.sample,
                                                                                  drift_records.c.sample)}))
    return len(rows)


def drift_report(conn: Connection, tenant_id: int, source: str) -> dict[str, Any]:
    """The drift of one source: fields by kind, parked events waiting, and the mapping the renames suggest."""
    rows = conn.execute(select(drift_records).where(drift_records.c.tenant_id == tenant_id,
                                                    drift_records.c.source == source)
                        .order_by(drift_records.c.last_seen.desc(), drift_records.c.id)).mappings().all()
    parked = conn.execute(select(func.count()).select_from(inbound_events).where(
        inbound_events.c.tenant_id == tenant_id, inbound_events.c.source == source,
        inbound_events.c.status == "parked")).scalar_one()
    fields = [{"schema_version": r["schema_version"], "field": r["field_path"], "kind": r["kind"],
               "suggestion": r["suggestion"], "first_seen": utc(r["first_seen"]), "last_seen": utc(r["last_seen"]),
               "count": int(r["occurrences"]), "sample": r["sample"], "last_event_id": r["last_event_id"]}
              for r in rows]
    record_roots = {k.record for k in SOURCES[source].kinds.values()}
    suggested = {}
    for f in fields:
        if f["kind"] == RENAMED and f["suggestion"]:
            relative = [_relative(f["suggestion"], root) for root in record_roots]
            target = [_relative(f["field"], root) for root in record_roots]
            pairs = [(s, t) for s, t in zip(relative, target) if s and t]
            if pairs:
                suggested[pairs[0][0]] = pairs[0][1]
    counts = {kind: sum(1 for f in fields if f["kind"] == kind) for kind in (UNKNOWN, MISSING, RENAMED)}
    return {"source": source, "fields": fields, "counts": counts, "parked_events": int(parked),
            "suggested_mapping": suggested}


def _relative(path: str, root: str) -> str | None:
    """`path` relative to the record object at `root` (what a mapping names), or None if outside it."""
    prefix = root + "."
    return path[len(prefix):] if path.startswith(prefix) and "[]" not in path[len(prefix):] else None
