"""E-mail delivery through the effects table, against a real local SMTP server (aiosmtpd), on SQLite and
PostgreSQL: what arrives, retries on 4xx, dead letters on 5xx, nothing sent twice; and the Peppol adapter
interface driven by a stand-in access point."""

from __future__ import annotations

import email
import os
import random
import socket
import subprocess
import sys
from email import policy
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from documents_seed import ARTIFACTS, seed_documents
from governed_seed import CLOCK, T
from invoiceflow.clock import FrozenClock
from invoiceflow.documents import delivery, peppol
from invoiceflow.documents.validation import validate
from invoiceflow.effects import HandlerRegistry, InlineRunner, enqueue, get_effect
from invoiceflow.store.tables import audit_log, invoices
from invoiceflow.store.tenancy import tenant_id

pytestmark = pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
SENDER = "invoices@acme.example"


class Inbox:
    """An aiosmtpd handler: answers DATA with the next scripted reply (250 when none is left) and keeps what
    it accepted."""

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.accepted: list[email.message.EmailMessage] = []
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.attempts += 1
        reply = self.replies.pop(0) if self.replies else "250 2.0.0 OK"
        if reply.startswith("250"):
            self.accepted.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return reply


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for name, value in (("HOST", "127.0.0.1"), ("PORT", str(port)), ("FROM", SENDER), ("TIMEOUT", "10")):
        monkeypatch.setenv(f"INVOICEFLOW_SMTP_{name}", value)
    yield inbox
    controller.stop()


def handlers() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(delivery.KIND, delivery.send_invoice_email)
    return registry


def send(engine, invoice_id: int, clock, **options):
    with engine.begin() as conn:
        ref = delivery.enqueue_send(conn, tenant_id(conn, T), invoice_id, at=clock.now(), **options)
    InlineRunner(worker="test", rng=random.Random(7)).run_until_idle(engine, clock=clock, handlers=handlers())
    with engine.connect() as conn:
        return ref, get_effect(conn, tenant_id(conn, T), ref.id)


def number_of(engine, invoice_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(invoices.c.number).where(invoices.c.id == invoice_id)).scalar_one()


def test_an_issued_invoice_arrives_with_its_pdf_and_valid_xml_and_is_sent_once(engine, smtp):
    ids = seed_documents(engine, credit_note=False)
    clock = FrozenClock(CLOCK.now())
    ref, effect = send(engine, ids["berlin"], clock)
    assert effect.status == "succeeded", effect.last_error
    [message] = smtp.accepted
    number = number_of(engine, ids["berlin"])
    assert message["Subject"] == f"Invoice {number} from Acme GmbH" and message["To"] == "ap@berlin.example"
    assert message["Message-ID"] == delivery.message_id(f"email:invoice:{ids['berlin']}:ap@berlin.example", SENDER)
    assert effect.result["message_id"] == message["Message-ID"]
    files = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(files) == {f"acme-eu-{number}.pdf", f"acme-eu-{number}.ubl.xml"}
    assert files[f"acme-eu-{number}.pdf"].get_content_type() == "application/pdf"
    assert files[f"acme-eu-{number}.pdf"].get_content().startswith(b"%PDF-")
    report = validate(files[f"acme-eu-{number}.ubl.xml"].get_content(), ARTIFACTS)
    assert report.valid and report.fatal == []
    assert "239.15 EUR" in message.get_body(("plain",)).get_content()

    again, effect = send(engine, ids["berlin"], clock)  # the same key: the first effect, nothing sent again
    assert (again.id, again.created, effect.status, len(smtp.accepted), smtp.attempts) == (ref.id, False, "succeeded", 1, 1)


def test_a_451_is_retried_and_then_delivered(engine, smtp):
    ids = seed_documents(engine, credit_note=False)
    clock = FrozenClock(CLOCK.now())
    smtp.replies = ["451 4.3.0 Mailbox temporarily unavailable"]
    ref, effect = send(engine, ids["austin"], clock, formats=["pdf", "cii"])
    assert (effect.status, effect.attempts, smtp.accepted) == ("pending", 1, [])
    assert "answered 451 4.3.0 Mailbox temporarily unavailable" in effect.last_error
    clock.advance(timedelta(hours=1))
    InlineRunner(worker="test").run_until_idle(engine, clock=clock, handlers=handlers())
    with engine.connect() as conn:
        effect = get_effect(conn, tenant_id(conn, T), ref.id)
    assert (effect.status, effect.attempts, len(smtp.accepted)) == ("succeeded", 2, 1)
    assert smtp.accepted[0]["Message-ID"] == delivery.message_id(ref.idempotency_key, SENDER)


def test_a_550_is_dead_lettered_with_the_smtp_error(engine, smtp):
    ids = seed_documents(engine, credit_note=False)
    smtp.replies = ["550 5.1.1 Mailbox unknown"]
    ref, effect = send(engine, ids["paris"], FrozenClock(CLOCK.now()), to="nobody@paris.example")
    assert effect.status == "dead" and smtp.accepted == []
    assert "answered 550 5.1.1 Mailbox unknown" in effect.last_error and "[permanent failure]" in effect.last_error
    with engine.connect() as conn:
        dead = conn.execute(select(audit_log.c.payload).where(audit_log.c.action == "effect.dead_lettered")).scalar_one()
    assert dead["idempotency_key"] == f"email:invoice:{ids['paris']}:nobody@paris.example"


def test_no_server_is_transient_and_bad_requests_are_refused(engine, monkeypatch):
    ids = seed_documents(engine, credit_note=False)
    monkeypatch.setenv("INVOICEFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("INVOICEFLOW_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("INVOICEFLOW_SMTP_FROM", SENDER)
    _, effect = send(engine, ids["oakland"], FrozenClock(CLOCK.now()))
    assert effect.status == "pending" and "cannot deliver through 127.0.0.1:" in effect.last_error
    with engine.begin() as conn, pytest.raises(Exception, match="'not-an-address' is not an e-mail address"):
        delivery.enqueue_send(conn, tenant_id(conn, T), ids["oakland"], at=CLOCK.now(), to="not-an-address")


@pytest.mark.slow
def test_cli_invoice_send_sends_once(engine, smtp):
    ids = seed_documents(engine, credit_note=False)
    url = engine.url.render_as_string(hide_password=False)
    environment = {k: v for k, v in os.environ.items() if k != "INVOICEFLOW_DATABASE_URL"}
    command = [sys.executable, "-m", "invoiceflow.cli", "invoice", "send", str(ids["tokyo"]), "--formats", "ubl",
               "--database", url, "--tenant", T]
    first = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert first.returncode == 0, first.stderr
    assert f"Invoice {number_of(engine, ids['tokyo'])} from Acme GmbH to keiri@tokyo.example" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert second.returncode == 0 and "already sent; nothing sent again" in second.stdout
    assert len(smtp.accepted) == 1


class StandInAccessPoint:
    """Records what it is handed, as a provider's adapter would transmit it."""

    name = "stand-in"

    def __init__(self) -> None:
        self.sent: list[peppol.PeppolSubmission] = []

    def is_registered(self, receiver: peppol.PeppolParticipant, document_type: str) -> bool:
        return receiver.scheme != "0000"

    def send(self, submission: peppol.PeppolSubmission) -> peppol.PeppolReceipt:
        self.sent.append(submission)
        return peppol.PeppolReceipt(message_id=f"ap-{len(self.sent)}")


def test_the_peppol_handler_drives_an_access_point_adapter(engine):
    ids = seed_documents(engine, credit_note=False)
    access_point = StandInAccessPoint()
    registry = HandlerRegistry()
    registry.register(peppol.KIND, peppol.peppol_handler(access_point))
    with engine.begin() as conn:
        ref = enqueue(conn, tenant_id(conn, T), peppol.KIND, target=access_point.name, at=CLOCK.now(),
                      payload={"invoice_id": ids["paris"]}, idempotency_key=f"peppol:invoice:{ids['paris']}")
    InlineRunner(worker="test").run_until_idle(engine, clock=CLOCK, handlers=registry)
    with engine.connect() as conn:
        effect = get_effect(conn, tenant_id(conn, T), ref.id)
    assert effect.status == "succeeded" and effect.result["message_id"] == "ap-1"
    [submission] = access_point.sent
    assert submission.receiver.participant_id == "iso6523-actorid-upis::9957:FR40303265045"
    assert submission.sender.participant_id == "iso6523-actorid-upis::9930:DE136695976"
    assert submission.document_type.endswith("::Invoice##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1")
    assert validate(submission.document, ARTIFACTS).rule_sets == ("xsd", "en16931", "peppol")
