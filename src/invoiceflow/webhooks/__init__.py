"""Inbound and outbound webhooks (docs/webhooks.md).

Inbound: CRM, PSA and payment-processor events, verified by HMAC signature (webhooks/signatures.py),
checked against versioned JSON Schemas with drift detection (schemas.py, drift.py), processed through the
catalog, metering, ledger and lifecycle services, or parked for replay (inbound.py).

Outbound: tenant endpoints (endpoints.py) receive signed events (outbound.py) delivered as effects of kind
"webhook.deliver" (delivery.py). Importing this package registers the delivery handler and the audit-log
listener that turns audited changes into events: bootstrap.py imports it, so every process that opens the
database through it (the API, the worker, the command line) emits events, and the worker and
`effects run` load the handler among the built-in ones (effects/handlers.py).
"""

from invoiceflow.audit.log import add_listener
from invoiceflow.webhooks import delivery  # noqa: F401 - registers the "webhook.deliver" handler
from invoiceflow.webhooks.outbound import EVENT_TYPES, emit, on_audit_entry
from invoiceflow.webhooks.signatures import SignatureError, sign, verify

add_listener(on_audit_entry)

__all__ = ["EVENT_TYPES", "SignatureError", "emit", "sign", "verify"]
