"""Entitlement: usage is billed only for metrics the contract includes.

A contract version entitles the meters its plan prices, or an explicit `entitlements` list when the
contract has one (a contract may sell a plan but limit what the customer may consume under it).
"""

from __future__ import annotations

from typing import Any, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules.common import Emit, line_record

GATE = "entitlement"


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    emit = Emit.of(GATE, settings)
    found: list[Finding] = []
    for line in invoice.lines:
        if line.line_type != "usage" or not line.meter_code:
            continue
        version = invoice.version_for(line.contract_version_id)
        if version is None:
            continue
        entitled = version.entitled_meters if version.entitled_meters is not None else version.meters
        if line.meter_code not in entitled:
            allowed = ", ".join(sorted(entitled)) or "no metered usage"
            found.append(emit(
                "entitlement.not_entitled",
                f"{line.description!r} bills meter {line.meter_code}, which contract {invoice.contract_code} "
                f"version {version.version} does not include (it includes: {allowed})",
                record=line_record(invoice.record, line.position), field="meter",
                fix="amend the contract to include the metric, or void this draft and bill without it",
                root_cause=f"entitlement:{invoice.contract_code}:{line.meter_code}", case_type="entitlement"))
    return found
