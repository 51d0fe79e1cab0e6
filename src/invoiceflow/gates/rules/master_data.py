"""Customer master data: what an invoice legally and practically needs before it can be sent.

Billing address with a country, the currency the customer is billed in, a legal entity that can invoice
(name, country and address), and an e-mail address to deliver the invoice to. One case per customer (or
legal entity): fixing the record releases every invoice it held.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules.common import Emit

GATE = "master_data"
CASE = "master_data"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ADDRESS_FIELDS = ("line1", "city", "country")


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    emit = Emit.of(GATE, settings)
    customer, entity = invoice.customer, invoice.legal_entity
    record = f"customer {customer.code}"
    root = f"master_data:customer:{customer.code}"
    fix = f"complete customer {customer.code} in the catalog and apply it; its held invoices re-validate"
    found: list[Finding] = []
    address = customer.billing_address or {}
    missing = [name for name in ADDRESS_FIELDS if not str(address.get(name) or "").strip()]
    if missing:
        found.append(emit("master_data.billing_address", f"billing address lacks {', '.join(missing)}",
                          record=record, field="billing_address", fix=fix, root_cause=root, case_type=CASE))
    if not customer.email:
        found.append(emit("master_data.delivery_email", "no e-mail address to deliver invoices to",
                          record=record, field="email", fix=fix, root_cause=root, case_type=CASE))
    elif not _EMAIL.match(customer.email):
        found.append(emit("master_data.delivery_email", f"{customer.email!r} is not an e-mail address",
                          record=record, field="email", fix=fix, root_cause=root, case_type=CASE))
    if customer.currency != invoice.currency:
        found.append(emit("master_data.currency",
                          f"the invoice is in {invoice.currency} but the customer is billed in {customer.currency}",
                          record=record, field="currency", fix=fix, root_cause=root, case_type=CASE))
    entity_record, entity_root = f"legal entity {entity.code}", f"master_data:legal_entity:{entity.code}"
    entity_fix = f"complete legal entity {entity.code} in the catalog and apply it"
    entity_address = entity.address or {}
    gaps = [name for name, value in (("country", entity.country), ("currency", entity.currency)) if not value]
    gaps += [f"address.{name}" for name in ADDRESS_FIELDS if not str(entity_address.get(name) or "").strip()]
    if gaps:
        found.append(emit("master_data.legal_entity", f"the invoicing legal entity lacks {', '.join(gaps)}",
                          record=entity_record, field=gaps[0], fix=entity_fix, root_cause=entity_root,
                          case_type=CASE))
    return found
