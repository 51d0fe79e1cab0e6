"""The inbound sources: which header carries the signature, which schema an event type is checked against,
and which object of the payload the tenant's field mapping applies to.

Three kinds of system send us events: a CRM (contracts closed or amended), a PSA (approved time and
completed milestones, billed as usage) and a payment processor (Stripe's events). CRM and PSA sign with
`Invoiceflow-Signature`, the processor with its own `Stripe-Signature`; both headers use the same scheme
(webhooks/signatures.py). Stripe sends every event type an account subscribes to, so a type invoiceflow
does not act on is accepted and ignored rather than refused (a refusal would only make Stripe retry it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

CRM, PSA, PAYMENTS = "crm", "psa", "payments"


@dataclass(frozen=True, slots=True)
class EventKind:
    """An event type's schema (without its version suffix) and the path of its record object."""

    schema: str
    record: str


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    title: str
    header: str
    kinds: Mapping[str, EventKind]
    fallback: EventKind | None = None  # for event types not in `kinds`: checked and ignored (Stripe)
    versioned_by_payload: bool = True  # `schema_version` in the payload picks the schema version

    def kind_of(self, event_type: object) -> EventKind | None:
        if isinstance(event_type, str) and event_type in self.kinds:
            return self.kinds[event_type]
        return self.fallback

    def schema_name(self, kind: EventKind, document: Mapping) -> str:
        version = document.get("schema_version", 1) if self.versioned_by_payload else 1
        return f"{kind.schema}-v{version if type(version) is int else 'unknown'}"


_OPPORTUNITY = EventKind("crm-opportunity", "opportunity")
_STRIPE = EventKind("stripe-event", "data.object")

SOURCES: dict[str, Source] = {
    CRM: Source(CRM, "CRM (opportunities and contracts)", "Invoiceflow-Signature",
                {"opportunity.closed_won": _OPPORTUNITY, "contract.amended": _OPPORTUNITY}),
    PSA: Source(PSA, "PSA (time entries and milestones)", "Invoiceflow-Signature",
                {"time_entry.approved": EventKind("psa-time-entry", "time_entry"),
                 "milestone.completed": EventKind("psa-milestone", "milestone")}),
    PAYMENTS: Source(PAYMENTS, "Payments (Stripe events)", "Stripe-Signature",
                     {t: _STRIPE for t in ("payment_intent.succeeded", "invoice.paid", "charge.refunded")},
                     fallback=_STRIPE, versioned_by_payload=False),
}
SOURCE_NAMES = tuple(SOURCES)
