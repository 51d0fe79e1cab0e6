"""Pricing vs contract: every charge line was rated with the contract version in force for its period.

A line rated with a version that no longer (or only partly) covers its service period is stale: the
contract was amended after the draft was built, or the draft was built from outdated data. The root cause
is the newer contract version, so every draft it makes stale joins one case.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping

from invoiceflow.gates.model import ContractVersionFacts, Finding, InvoiceFacts
from invoiceflow.gates.rules.common import CHARGE_TYPES, Emit, line_record, span

GATE = "pricing"
CASE = "pricing_discrepancy"


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    emit = Emit.of(GATE, settings)
    found: list[Finding] = []
    ends = _version_ends(invoice.contract_versions)
    for line in invoice.lines:
        if line.line_type not in CHARGE_TYPES or line.contract_version_id is None or line.service_start is None:
            continue
        record = line_record(invoice.record, line.position)
        rated = invoice.version_for(line.contract_version_id)
        if rated is None:
            found.append(emit(
                "pricing.unknown_contract_version",
                f"{line.description!r} was rated with a contract version that contract {invoice.contract_code} "
                "does not have", record=record, field="contract_version", root_cause=f"arithmetic:{invoice.record}",
                fix="void this draft and bill the period again", case_type=CASE))
            continue
        line_end = line.service_end or line.service_start
        for other in invoice.contract_versions:
            if other.id == rated.id or not _overlaps(other.effective_from, ends[other.id], line.service_start,
                                                     line_end):
                continue
            found.append(emit(
                "pricing.stale_contract_version",
                f"{line.description!r} ({span(line.service_start, line.service_end)}) was rated with contract "
                f"{invoice.contract_code} version {rated.version}, but version {other.version} is in force from "
                f"{other.effective_from}", record=record, field="contract_version",
                fix=f"void this draft and bill again so the line is rated with version {other.version}, or "
                    "override with a reason and let the next bill run settle the difference by day",
                root_cause=f"contract_version:{invoice.contract_code}:v{other.version}", case_type=CASE))
            break
        else:
            if line.plan_version_id is not None and line.plan_version_id != rated.plan_version_id:
                found.append(emit(
                    "pricing.plan_version_mismatch",
                    f"{line.description!r} was priced from a plan version other than the one contract "
                    f"{invoice.contract_code} version {rated.version} names", record=record, field="plan_version",
                    fix="void this draft and bill the period again",
                    root_cause=f"contract_version:{invoice.contract_code}:v{rated.version}", case_type=CASE))
    return found


def _version_ends(versions: tuple[ContractVersionFacts, ...]) -> dict[int, date | None]:
    """Each version runs until its own end or the next version's start, whichever is first."""
    ordered = sorted(versions, key=lambda v: v.effective_from)
    ends: dict[int, date | None] = {}
    for current, following in zip(ordered, [*ordered[1:], None]):
        candidates = [d for d in (current.effective_to, following.effective_from if following else None) if d]
        ends[current.id] = min(candidates) if candidates else None
    return ends


def _overlaps(start: date, end: date | None, line_start: date, line_end: date) -> bool:
    if line_end <= line_start:  # a point in time (e.g. a one-off on a date)
        return start <= line_start and (end is None or line_start < end)
    return start < line_end and (end is None or line_start < end)
