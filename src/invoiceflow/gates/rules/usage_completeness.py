"""Usage completeness: a feed missing or late for the period, anomalous volume, usage under unmapped ids.

- A meter that delivered usage in each of the customer's last `min_trailing` periods but has no event at
  all this period is a missing feed; when no customer has events of that meter in the period the whole
  feed is missing, and every invoice it affects joins one case. (A sparse meter, idle in some recent
  period, is not expected every period; nor is a gauge — max, latest, time-weighted — whose level holds
  without new events.)
- Events that arrived after the period was billed are not on the invoice (late events are never billed).
- Volume far above or below the customer's trailing periods (median times/over `anomaly_factor`) is an
  anomaly for a person to confirm, once the period has at least `anomaly_min_events` events (a handful of
  events swings too much to call anything anomalous).
- Events parked under an external account id that no customer maps, but that resemble this customer's
  accounts, are usage this invoice is probably missing.
"""

from __future__ import annotations

from decimal import Decimal
from statistics import median
from typing import Any, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules.common import Emit

GATE = "usage_completeness"
FLOWS = frozenset({"count", "sum", "unique_count"})  # metrics that need events every period to be non-zero
SETTINGS = {"anomaly_factor": Decimal(3), "trailing_periods": 3, "min_trailing": 2, "anomaly_min_events": 20}


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    emit = Emit.of(GATE, settings)
    factor = Decimal(str(settings.get("anomaly_factor", SETTINGS["anomaly_factor"])))
    window = int(settings.get("trailing_periods", SETTINGS["trailing_periods"]))
    minimum = int(settings.get("min_trailing", SETTINGS["min_trailing"]))
    min_events = int(settings.get("anomaly_min_events", SETTINGS["anomaly_min_events"]))
    customer, period = invoice.customer.code, invoice.period_start
    found: list[Finding] = []
    for usage in invoice.usage:
        where = f"customer {customer} meter {usage.meter}"
        trailing = [q for q in usage.trailing[-window:]]
        recent = trailing[-minimum:]
        if (usage.events == 0 and usage.aggregation in FLOWS and len(recent) >= minimum
                and all(q > 0 for q in recent)):
            whole_feed = usage.feed_events == 0
            found.append(emit(
                "usage.feed_missing",
                f"no {usage.meter} events arrived for {customer} in the period starting {period}"
                + (" (none from any customer: the whole feed is missing)" if whole_feed else "")
                + f", though earlier periods billed {_plain(trailing[-1])}",
                record=invoice.record, field=f"usage.{usage.meter}",
                fix="load the missing events, then void this draft and bill the period again; or override "
                    "with a reason if the customer really had no usage",
                root_cause=f"feed:{usage.meter}:{period}" if whole_feed else f"feed:{usage.meter}:{customer}:{period}",
                case_type="usage_mismatch"))
        if usage.late_events:
            found.append(emit(
                "usage.late_events",
                f"{usage.late_events} {usage.meter} event(s) for {customer} in this period arrived after it was "
                "billed and are not on this invoice", record=invoice.record, field=f"usage.{usage.meter}",
                fix="override with a reason (the late usage stays unbilled) or void this draft and re-bill",
                root_cause=f"late_usage:{customer}:{usage.meter}:{period}", case_type="usage_mismatch"))
        if len(trailing) >= minimum and usage.events >= min_events:
            typical = Decimal(median(trailing))
            if typical > 0 and (usage.billed > typical * factor or usage.billed * factor < typical):
                found.append(emit(
                    "usage.anomalous_volume",
                    f"{where}: {_plain(usage.billed)} billed against a median of {_plain(typical)} over the "
                    f"last {len(trailing)} periods (more than {_plain(factor)}x apart)",
                    record=invoice.record, field=f"usage.{usage.meter}",
                    fix="confirm the volume with the customer's usage data, then override with a reason",
                    root_cause=f"anomaly:{customer}:{usage.meter}:{period}", case_type="anomaly"))
    for parked in invoice.unmapped:
        found.append(emit(
            "usage.unmapped_account",
            f"{parked.events} event(s) were sent under external account id {parked.account_id!r}, which no "
            f"customer maps; it resembles {parked.resembles!r} of {customer}", record=invoice.record,
            field="usage.external_account_id",
            fix=f"add {parked.account_id!r} to the account_ids of customer {customer} (or of its rightful "
                "customer) and apply the catalog; the parked events are then attached",
            root_cause=f"unmapped_account:{parked.account_id}", case_type="usage_mismatch"))
    return found


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)
    return text
