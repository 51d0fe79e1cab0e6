"""PSA events become usage: approved billable time as quantity of the `hours` meter, a completed milestone
as one event of the `milestones` meter. Plans price them like any other usage (a standard price per hour,
a flat fee per milestone), so billing, rating and the gates need nothing PSA-specific.

Each event is ingested with `ingest_events` under the transaction id "psa:time_entry:<id>" or
"psa:milestone:<id>", so the same entry delivered twice is one usage event. A tenant without the meter gets
the event parked with that reason; add the meter and replay it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import Connection, select

from invoiceflow.metering.ingest import ingest_events
from invoiceflow.rating.periods import to_epoch_micros
from invoiceflow.store.tables import meters
from invoiceflow.webhooks.processing import Context, Processed, ProcessingError

HOURS_METER = "hours"
MILESTONES_METER = "milestones"


def process(conn: Connection, ctx: Context, event: Mapping[str, Any]) -> Processed:
    if event["type"] == "time_entry.approved":
        entry = event["time_entry"]
        if entry.get("billable") is False:
            return Processed({"action": "skipped", "reason": "the time entry is not billable"})
        hours = Decimal(str(entry["hours"]))
        usage = {"transaction_id": f"psa:time_entry:{entry['id']}", "customer": entry["customer"],
                 "metric": _meter(conn, ctx.tenant_id, HOURS_METER, "time_entry.hours", "sum"),
                 "timestamp": entry["started_at"], "value": format(hours, "f"),
                 "properties": _properties(entry, ("project", "person"))}
        quantity = format(hours, "f")
    else:
        milestone = event["milestone"]
        usage = {"transaction_id": f"psa:milestone:{milestone['id']}", "customer": milestone["customer"],
                 "metric": _meter(conn, ctx.tenant_id, MILESTONES_METER, "milestone", "count"),
                 "timestamp": milestone["completed_at"], "value": "1",
                 "properties": _properties(milestone, ("project", "name"))}
        quantity = "1"
    report = ingest_events(conn, ctx.tenant_id, [usage], ingested_at_micros=to_epoch_micros(ctx.at))
    return Processed({"action": "usage_ingested", "transaction_id": usage["transaction_id"],
                      "metric": usage["metric"], "customer": usage["customer"], "quantity": quantity,
                      "duplicate": report.duplicates > 0, "late": report.late > 0})


def _meter(conn: Connection, tenant_id: int, code: str, where: str, aggregation: str) -> str:
    found = conn.execute(select(meters.c.code).where(meters.c.tenant_id == tenant_id, meters.c.code == code)).first()
    if found is None:
        raise ProcessingError(f"this tenant has no meter {code!r}: add it to the catalog (e.g. aggregation "
                              f"{aggregation}) and price it in the customer's plan, then replay this event",
                              field=where)
    return code


def _properties(record: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(record[name]) for name in names if isinstance(record.get(name), str)}
