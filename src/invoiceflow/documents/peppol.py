"""Sending through a Peppol access point: the interface an adapter implements.

Peppol delivery goes through a certified access point (AP): the sender's AP looks the receiver up (SMP),
and transmits the Peppol BIS Billing 3.0 document over AS4. invoiceflow does not ship an AP or talk to
one over the network: operators contract one, and its API differs per provider. What ships is the
contract an adapter fulfils (`PeppolAccessPoint`), the submission built from a stored document
(`submission_for`), and an effect handler (`peppol_handler`) that runs an adapter through the effects
table, so Peppol sends get the same retries, dead letters and idempotency as e-mail.

An adapter raises effects.Transient when the AP may accept later (timeouts, 5xx, rate limits) and
effects.Permanent when it refused the document or the receiver is not registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from invoiceflow.documents.export import render_stored
from invoiceflow.documents.formats import PEPPOL_BILLING_PROCESS, PEPPOL_BIS3
from invoiceflow.documents.from_db import StoredDocument, load_document
from invoiceflow.effects import EffectContext, EffectView, Permanent
from invoiceflow.effects.handlers import Handler
from invoiceflow.errors import InvoiceflowError, ValidationError

KIND = "peppol.send"
PARTICIPANT_SCHEME = "iso6523-actorid-upis"
_DOCUMENT_TYPES = {
    False: f"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##{PEPPOL_BIS3}::2.1",
    True: f"urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote##{PEPPOL_BIS3}::2.1",
}


@dataclass(frozen=True, slots=True)
class PeppolParticipant:
    """A Peppol participant: EAS scheme and identifier, e.g. 9930 / DE136695976."""

    scheme: str
    identifier: str

    @property
    def participant_id(self) -> str:
        """As the SMP and AS4 headers write it: iso6523-actorid-upis::9930:DE136695976."""
        return f"{PARTICIPANT_SCHEME}::{self.scheme}:{self.identifier}"


@dataclass(frozen=True, slots=True)
class PeppolSubmission:
    """One document for the AP: who sends to whom, which document type and process, and the XML."""

    sender: PeppolParticipant
    receiver: PeppolParticipant
    document_type: str
    process: str
    document: bytes
    idempotency_key: str  # pass it on as the AP's own deduplication key where it has one


@dataclass(frozen=True, slots=True)
class PeppolReceipt:
    """What the AP answered when it took the document over."""

    message_id: str
    accepted_at: datetime | None = None
    detail: str = ""


class PeppolAccessPoint(Protocol):
    """A Peppol access point adapter; `name` is the effect target (e.g. "storecove", "my-ap")."""

    name: str

    def is_registered(self, receiver: PeppolParticipant, document_type: str) -> bool:
        """Whether the receiver accepts this document type on the network (an SMP lookup)."""

    def send(self, submission: PeppolSubmission) -> PeppolReceipt:
        """Hand the document to the AP; raise Transient or Permanent (effects.errors) when it does not take it."""


def submission_for(document: StoredDocument, idempotency_key: str) -> PeppolSubmission:
    """The Peppol submission of an issued document; ValidationError names what Peppol lacks (e.g. BT-49)."""
    record = f"invoice {document.invoice_id}"
    if document.provisional:
        raise ValidationError(f"is {document.status}: only issued documents are sent", record=record)
    xml = render_stored(document, "peppol")  # checks the endpoints, among every other Peppol requirement
    seller, buyer = document.invoice.seller.electronic_address, document.invoice.buyer.electronic_address
    if seller is None or buyer is None:  # the Peppol requirements refuse such a document before this point
        raise ValidationError("Peppol needs both electronic addresses (BT-34, BT-49)", record=record)
    return PeppolSubmission(
        sender=PeppolParticipant(seller.scheme, seller.identifier),
        receiver=PeppolParticipant(buyer.scheme, buyer.identifier),
        document_type=_DOCUMENT_TYPES[document.invoice.is_credit_note], process=PEPPOL_BILLING_PROCESS,
        document=xml, idempotency_key=idempotency_key)


def peppol_handler(access_point: PeppolAccessPoint) -> Handler:
    """An effect handler for "peppol.send" (payload {invoice_id}) that sends through `access_point`.

    Register it with the adapter the operator configured: `register(KIND, peppol_handler(MyAccessPoint()))`.
    """

    def send(effect: EffectView, context: EffectContext) -> dict[str, Any]:
        try:
            with context.engine.connect() as conn:
                document = load_document(conn, effect.tenant_id, int(effect.payload["invoice_id"]))
            submission = submission_for(document, effect.idempotency_key)
        except (InvoiceflowError, KeyError) as error:
            invoice = effect.payload.get("invoice_id")
            raise Permanent(f"cannot build the Peppol document for invoice {invoice}: {error}") from error
        if not access_point.is_registered(submission.receiver, submission.document_type):
            raise Permanent(f"{submission.receiver.participant_id} is not registered on Peppol for this document type")
        receipt = access_point.send(submission)
        return {"message_id": receipt.message_id, "receiver": submission.receiver.participant_id,
                "access_point": access_point.name, "detail": receipt.detail}

    return send
