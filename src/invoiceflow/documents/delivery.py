"""E-mail delivery of issued invoices and credit notes: the effect kind "email.send", sent over SMTP.

`enqueue_send` writes the effect in the caller's transaction with the key "email:invoice:<id>:<to>", so
asking twice to send one document to one address sends it once. The handler renders the attachments at
send time from the stored document (PDF and XML, by default), so a retry a day later still sends exactly
what is stored. The Message-ID is derived from the idempotency key: should a worker die after the server
accepted the message but before the outcome was recorded, the repeat carries the same Message-ID and
receivers (and people) can tell it is the same message.

SMTP outcomes map onto the effect's retry rules: no connection, a dropped connection or a 4xx reply is
Transient (retried with backoff); a 5xx reply (mailbox unknown, message refused, authentication failed) is
Permanent (dead-lettered with the server's answer until someone fixes it and replays). Configuration comes
from the environment (`SmtpSettings.from_env`, documented in docs/einvoicing.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Mapping, Sequence

from sqlalchemy import Connection

from invoiceflow.documents.export import file_name, render_stored
from invoiceflow.documents.formats import DOCUMENT_FORMATS
from invoiceflow.documents.from_db import StoredDocument, load_document
from invoiceflow.effects import EffectContext, EffectRef, EffectView, Permanent, Transient, enqueue, register
from invoiceflow.errors import InvoiceflowError, NotFound, ValidationError

KIND, TARGET = "email.send", "smtp"
DEFAULT_FORMATS = ("pdf", "ubl")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_MIME = {"pdf": ("application", "pdf"), "facturx": ("application", "pdf")}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to send: INVOICEFLOW_SMTP_HOST, _PORT, _USER, _PASSWORD, _STARTTLS, _FROM, _TIMEOUT."""

    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "SmtpSettings":
        env = os.environ if environ is None else environ
        get = lambda name: (env.get(f"INVOICEFLOW_SMTP_{name}") or "").strip() or None  # noqa: E731
        try:
            port, timeout = int(get("PORT") or 25), float(get("TIMEOUT") or 30)
        except ValueError as error:
            raise ValidationError(f"INVOICEFLOW_SMTP_PORT / _TIMEOUT must be numbers: {error}", field="smtp") from None
        return cls(host=get("HOST") or "localhost", port=port, user=get("USER"), password=get("PASSWORD"),
                   starttls=(get("STARTTLS") or "").lower() in ("1", "true", "yes", "on"), sender=get("FROM"),
                   timeout=timeout)


def idempotency_key(invoice_id: int, to: str) -> str:
    return f"email:invoice:{invoice_id}:{to.strip()}"


def message_id(key: str, sender: str) -> str:
    """A Message-ID that is the same for every attempt of one effect."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "invoiceflow.invalid"
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


def enqueue_send(conn: Connection, tenant_id: int, invoice_id: int, *, at: datetime, to: str | None = None,
                 formats: Sequence[str] = DEFAULT_FORMATS) -> EffectRef:
    """Ask for document `invoice_id` to be e-mailed (to `to`, else the customer's e-mail), after commit."""
    document = load_document(conn, tenant_id, invoice_id)
    record = f"invoice {invoice_id}"
    if document.provisional:
        raise ValidationError(f"is {document.status}: only issued documents are sent", record=record)
    address = (to or document.customer_email or "").strip()
    if not address:
        raise ValidationError("the customer has no e-mail address: pass one (--to)", record=record, field="to")
    if not _EMAIL.match(address):
        raise ValidationError(f"{address!r} is not an e-mail address", record=record, field="to")
    unknown = [fmt for fmt in formats if fmt not in DOCUMENT_FORMATS]
    if unknown or not formats:
        raise ValidationError(f"unknown or no formats {', '.join(unknown)}; choose among {', '.join(DOCUMENT_FORMATS)}",
                              record=record, field="formats")
    return enqueue(conn, tenant_id, KIND, target=TARGET, at=at, idempotency_key=idempotency_key(invoice_id, address),
                   payload={"invoice_id": invoice_id, "to": address, "formats": list(dict.fromkeys(formats))})


def build_message(document: StoredDocument, to: str, formats: Sequence[str], *, sender: str, msg_id: str,
                  at: datetime) -> EmailMessage:
    """The e-mail: subject with the document number, a short text, one attachment per format."""
    invoice, totals = document.invoice, document.totals
    kind = "Credit note" if invoice.is_credit_note else "Invoice"
    message = EmailMessage()
    message["Subject"] = f"{kind} {invoice.number} from {invoice.seller.name}"
    message["From"], message["To"] = sender, to
    message["Message-ID"], message["Date"] = msg_id, formatdate(at.timestamp(), usegmt=True)
    due = f", due {invoice.due_date.isoformat()}" if invoice.due_date and totals.payable > 0 else ""
    message.set_content(
        f"Dear {invoice.buyer.name},\n\nplease find attached {kind.lower()} {invoice.number} of "
        f"{invoice.issue_date.isoformat()}: {totals.payable} {invoice.currency}{due}.\n"
        f"The XML attachment is the structured EN 16931 e-invoice of the same document.\n\n{invoice.seller.name}\n")
    for fmt in formats:
        maintype, subtype = _MIME.get(fmt, ("application", "xml"))
        message.add_attachment(render_stored(document, fmt), maintype=maintype, subtype=subtype,
                               filename=file_name(document, fmt))
    return message


def send_invoice_email(effect: EffectView, context: EffectContext) -> dict[str, Any]:
    """The "email.send" handler: load, render, send; Transient/Permanent as the server answers."""
    payload = effect.payload
    try:
        settings = SmtpSettings.from_env()
        with context.engine.connect() as conn:
            document = load_document(conn, effect.tenant_id, int(payload["invoice_id"]))
        sender = settings.sender or (document.invoice.seller.contact and document.invoice.seller.contact.email)
        if not sender:
            raise ValidationError("no sender address: set INVOICEFLOW_SMTP_FROM (or the entity's contact e-mail)")
        msg_id = message_id(effect.idempotency_key, sender)
        message = build_message(document, payload["to"], payload["formats"], sender=sender, msg_id=msg_id,
                                at=context.clock.now())
    except (InvoiceflowError, KeyError) as error:  # not found, not renderable, misconfigured: fix, then replay
        raise Permanent(f"cannot build the e-mail for invoice {payload.get('invoice_id')}: {error}") from error
    response = _deliver(settings, message)
    return {"message_id": msg_id, "to": payload["to"], "subject": message["Subject"], "server": response,
            "attachments": [part.get_filename() for part in message.iter_attachments()]}


def _deliver(settings: SmtpSettings, message: EmailMessage) -> str:
    where = f"{settings.host}:{settings.port}"
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(message)
            return f"accepted by {where}"
    except smtplib.SMTPRecipientsRefused as error:
        answers = list(error.recipients.values())
        text = "; ".join(f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in error.recipients.items())
        transient = all(400 <= code < 500 for code, _ in answers)
        raise _failure(transient, f"{where} refused the recipient: {text}") from error
    except smtplib.SMTPResponseException as error:
        detail = f"{where} answered {error.smtp_code} {_text(error.smtp_error)}"
        raise _failure(400 <= error.smtp_code < 500, detail) from error
    except smtplib.SMTPNotSupportedError as error:
        raise Permanent(f"{where} does not support what INVOICEFLOW_SMTP_* asks for: {error}") from error
    except (smtplib.SMTPException, OSError) as error:  # refused, timed out, dropped: the server may be back later
        raise Transient(f"cannot deliver through {where}: {type(error).__name__}: {error}") from error


def _failure(transient: bool, detail: str) -> Transient | Permanent:
    """4xx replies are temporary by SMTP's own definition (RFC 5321); 5xx ones are final."""
    return Transient(detail) if transient else Permanent(detail)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


register(KIND, send_invoice_email)
