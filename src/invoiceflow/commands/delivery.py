"""`invoiceflow invoice send ID [--to ADDR]`: e-mail an issued document with its PDF and XML, through the outbox.

The send is an "email.send" effect with the key "email:invoice:<id>:<to>": asking again for the same
document and address finds the first effect and sends nothing twice. By default the effect runs at once in
this process (the inline runner); with --no-run it waits for `invoiceflow effects run` or a worker. SMTP is
configured through INVOICEFLOW_SMTP_* (docs/einvoicing.md). Exit 0 when sent (or already sent), 1 when the
send failed or waits for a retry, 2 on bad input.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, reported_errors
from invoiceflow.commands.invoice import invoice_app
from invoiceflow.documents.delivery import DEFAULT_FORMATS, KIND, enqueue_send, send_invoice_email
from invoiceflow.effects import HandlerRegistry, InlineRunner, get_effect
from invoiceflow.store.tenancy import tenant_id as resolve_tenant


def register(app: typer.Typer) -> None:
    """Adds `send` to the `invoice` command group (registered by commands/invoice.py)."""
    invoice_app.command("send")(send_command)


def send_command(
    invoice_id: Annotated[int, typer.Argument(help="Issued invoice (or credit note) id.")],
    to: Annotated[Optional[str], typer.Option("--to", help="Recipient (default: the customer's e-mail).")] = None,
    formats: Annotated[str, typer.Option("--formats", help="Attachments, comma-separated.")] = ",".join(DEFAULT_FORMATS),
    run: Annotated[bool, typer.Option("--run/--no-run", help="Send now in this process, or leave it to a worker.")] = True,
    database: Optional[str] = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """E-mail an issued invoice or credit note with its PDF and e-invoice XML attached."""
    with reported_errors():
        engine, clock = open_engine(database), SystemClock()
        with engine.begin() as conn:
            tid = resolve_tenant(conn, tenant, create=False)
            ref = enqueue_send(conn, tid, invoice_id, at=clock.now(), to=to,
                               formats=[part.strip() for part in formats.split(",") if part.strip()])
        if run and ref.created:
            handlers = HandlerRegistry()
            handlers.register(KIND, send_invoice_email)
            InlineRunner().run_effect(engine, ref.id, clock=clock, handlers=handlers)
        with engine.connect() as conn:
            effect = get_effect(conn, tid, ref.id)
        label = f"effect {effect.id} ({escape(effect.idempotency_key)})"
        if effect.status == "succeeded":
            again = "" if ref.created else "already sent; nothing sent again: "
            result = effect.result or {}
            console.print(f"{label}: {again}{escape(str(result.get('subject', '')))} to {escape(effect.payload['to'])}, "
                          f"Message-ID {escape(str(result.get('message_id', '')))}", highlight=False, soft_wrap=True)
            return
        if effect.status == "pending" and effect.attempts == 0:
            console.print(f"{label}: queued; `invoiceflow effects run` or a worker sends it", highlight=False, soft_wrap=True)
            return
        console.print(f"{label}: {effect.status} after {effect.attempts} attempt(s): {escape(effect.last_error or '')}",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(1)
