"""Usage sent under an external account id that no customer maps: parked, reported, attached once mapped.

Rejecting a whole file for one unknown telemetry account would stop every customer's billing; billing the
events to nobody would lose them. So an event that is valid except for its unmapped account id is parked
in `unmapped_usage` (in the ingestion's transaction, idempotent by transaction id), counted in the ingest
report, and surfaced by the usage-completeness gate on the invoice of the customer it resembles. When a
catalog apply maps the account id, the parked events are ingested for that customer; events for periods
already billed are then flagged late, as any late event is.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import orjson
from hashlib import blake2b
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.errors import IngestError, Problem
from invoiceflow.store.review_tables import unmapped_usage
from invoiceflow.store.tables import customer_accounts

UNKNOWN_ACCOUNT = "unknown external account id"


def parkable(problems: list[Problem]) -> bool:
    """True when the event's only problem is an external account id no customer maps."""
    return bool(problems) and all(p.field == "external_account_id" and p.message.startswith(UNKNOWN_ACCOUNT)
                                  for p in problems)


class Parker:
    """Collects parkable events during one ingestion and writes them at its end."""

    def __init__(self, tenant_id: int, meters: Mapping[str, Any], ingested_at: int):
        self.tenant_id, self.meters, self.ingested_at = tenant_id, meters, ingested_at
        self.rows: dict[str, dict] = {}
        self.accounts: dict[str, int] = {}

    def park(self, raw: Mapping[str, Any], timestamp_micros) -> None:
        tid = raw["transaction_id"]
        if tid in self.rows:
            return
        meter = self.meters[raw["metric"]]
        event = dict(raw)
        self.rows[tid] = {
            "tenant_id": self.tenant_id, "transaction_id": tid, "external_account_id": raw["external_account_id"],
            "meter_id": meter.id, "ts": timestamp_micros(raw["timestamp"]), "event": event,
            "payload_hash": blake2b(orjson.dumps(event, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest(),
            "ingested_at": self.ingested_at}
        account = raw["external_account_id"]
        self.accounts[account] = self.accounts.get(account, 0) + 1

    def write(self, conn: Connection) -> int:
        """Store the parked events; returns how many were new (a resend parks nothing twice)."""
        if not self.rows:
            return 0
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        rows = list(self.rows.values())
        new = 0
        for start in range(0, len(rows), 1000):
            stmt = dialect.insert(unmapped_usage).values(rows[start:start + 1000])
            stmt = stmt.on_conflict_do_nothing(index_elements=["tenant_id", "transaction_id"])
            new += len(conn.execute(stmt.returning(unmapped_usage.c.id)).all())
        return new


def attach_mapped_usage(conn: Connection, tenant_id: int) -> int:
    """Ingest parked events whose account id is now mapped; returns how many were attached."""
    from invoiceflow.metering.ingest import ingest_events  # ingest imports this module

    mapped = set(conn.execute(select(customer_accounts.c.external_id).where(
        customer_accounts.c.tenant_id == tenant_id)).scalars())
    parked = conn.execute(select(unmapped_usage.c.id, unmapped_usage.c.external_account_id, unmapped_usage.c.event)
                          .where(unmapped_usage.c.tenant_id == tenant_id, unmapped_usage.c.attached_at.is_(None))
                          .order_by(unmapped_usage.c.id)).all()
    ready = [row for row in parked if row.external_account_id in mapped]
    if not ready:
        return 0
    now = time.time_ns() // 1000
    report = ingest_events(conn, tenant_id, [row.event for row in ready], ingested_at_micros=now)
    if report.received != report.inserted + report.duplicates:
        raise IngestError([Problem("parked usage", "", "some parked events could not be attached")])
    ids = [row.id for row in ready]
    for start in range(0, len(ids), 1000):
        conn.execute(update(unmapped_usage).where(unmapped_usage.c.id.in_(ids[start:start + 1000]))
                     .values(attached_at=now))
    return len(ready)
