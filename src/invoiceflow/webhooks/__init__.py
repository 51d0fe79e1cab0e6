"""Inbound and outbound webhooks (docs/webhooks.md).

Inbound: CRM, PSA and payment-processor events, verified by HMAC signature (webhooks/signatures.py),
checked against versioned JSON Schemas with drift detection (schemas.py, drift.py), processed through the
catalog, metering, ledger and lifecycle services, or parked for replay (inbound.py).

Outbound: tenant endpoints (endpoints.py) receive signed events (outbound.py) delivered as effects of kind
"webhook.deliver" (delivery.py). Importing this package registers the delivery handler and the audit-log
listener that turns audited changes into events: the API imports it; a worker gets it with
`--handlers invoiceflow.webhooks`, and any other process that should emit events imports it too.
"""

from invoiceflow.audit.log import add_listener
from invoiceflow.webhooks import delivery  # noqa: F401 - registers the "webhook.deliver" handler
from invoiceflow.webhooks.outbound import EVENT_TYPES, emit, on_audit_entry
from invoiceflow.webhooks.signatures import SignatureError, sign, verify

add_listener(on_audit_entry)

__all__ = ["EVENT_TYPES", "SignatureError", "emit", "sign", "verify"]
