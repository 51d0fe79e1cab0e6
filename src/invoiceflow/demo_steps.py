"""Demo steps that act like the people in the story: an approver works the approval queue, the ledger
posts what was issued. Each is idempotent, so a rerun of the demo finds nothing left to do."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, select

from invoiceflow.clock import Clock
from invoiceflow.documents.export import document_ids, export_documents
from invoiceflow.documents.from_db import ISSUED, StoredDocument
from invoiceflow.documents.release_gate import einvoice_issue_policy
from invoiceflow.documents.validation import ENV_VAR
from invoiceflow.effects import InlineRunner, get_effect
from invoiceflow.errors import InvoiceflowError
from invoiceflow.lifecycle.service import transition
from invoiceflow.lifecycle.states import PolicyRefused, TransitionRefused
from invoiceflow.store.tables import invoices
from invoiceflow.store.tenancy import tenant_id

APPROVER, NOT_AN_APPROVER = "omar.controller", "maya.finance"


def _ids(engine: Engine, tenant: str, status: str) -> list[int]:
    with engine.connect() as conn:
        tid = tenant_id(conn, tenant, create=False)
        return list(conn.execute(select(invoices.c.id).where(invoices.c.tenant_id == tid, invoices.c.status == status)
                                 .order_by(invoices.c.id)).scalars())


def approve_pending(engine: Engine, tenant: str, clock: Clock) -> tuple[int, str]:
    """Approve and issue every invoice waiting for approval; returns (count, one refusal shown on the way)."""
    pending = _ids(engine, tenant, "pending_approval")
    refused = ""
    if pending:
        try:
            transition(engine, tenant, pending[0], "approve", actor=NOT_AN_APPROVER, clock=clock)
        except TransitionRefused as exc:
            refused = exc.problems[0].message
    done = 0
    for invoice_id in pending:
        result = transition(engine, tenant, invoice_id, "approve", actor=APPROVER, clock=clock)
        if result.status == "approved":
            try:  # the e-invoice gate may refuse (audited): the invoice then stays approved
                transition(engine, tenant, invoice_id, "issue", actor=APPROVER, clock=clock,
                           policies=[einvoice_issue_policy])
            except PolicyRefused:
                continue
            done += 1
    return done, refused


def post_to_ledger(engine: Engine, tenant: str, clock: Clock) -> int:
    """Post every issued document to the built-in ledger through the outbox (one erp.post effect each, run
    inline now), which marks it posted in the same transaction; raises with the effects' errors if any fails."""
    # Imported here: importing erp_posting registers the erp.post handler process-wide, which only a process
    # that posts (or a worker, which loads every built-in handler) should do.
    from invoiceflow.ledger.erp_posting import enqueue_posting, erp_handlers

    issued = _ids(engine, tenant, "issued")
    if not issued:
        return 0
    with engine.begin() as conn:
        tid = tenant_id(conn, tenant, create=False)
        refs = [enqueue_posting(conn, tid, invoice_id, at=clock.now(), target="builtin") for invoice_id in issued]
    InlineRunner().run_until_idle(engine, clock=clock, handlers=erp_handlers())
    with engine.connect() as conn:
        failed = [get_effect(conn, tid, ref.id) for ref in refs]
    failed = [effect for effect in failed if effect.status != "succeeded"]
    if failed:
        raise InvoiceflowError(f"{len(failed)} of {len(refs)} ledger postings did not succeed: "
                               + "; ".join(f"effect {e.id} is {e.status}: {e.last_error}" for e in failed[:5]))
    return len(refs)


#: Documents that get a PDF (and, in EUR, a Factur-X PDF) in the demo; XML is written for every one.
DEMO_PDF_SAMPLE = 20


def write_documents(engine: Engine, tenant: str, out_dir: str | Path = "demo-documents", clock: Clock | None = None,
                    *, artifacts: str | Path | None = None, pdf_sample: int = DEMO_PDF_SAMPLE) -> dict:
    """Write the UBL of every issued (or later) document, and PDF + Factur-X for the first `pdf_sample`.

    A PDF takes about a hundred times longer than its XML, so the demo shows a sample of PDFs while every
    document gets its XML. The XML is validated with the official rules when the artifacts are configured
    (`artifacts`, else INVOICEFLOW_EINVOICE_ARTIFACTS); the summary (also written as manifest.json) says
    which. Returns documents, written, valid, failed (file -> rule ids), refused (file -> terms).
    """
    folder = Path(out_dir)
    chosen = artifacts or os.environ.get(ENV_VAR) or None
    ids = document_ids(engine, tenant, ISSUED)

    def include(document: StoredDocument, fmt: str, index: int) -> bool:
        if fmt == "ubl":
            return True
        return index < pdf_sample and (fmt == "pdf" or document.invoice.currency == "EUR")

    report = export_documents(engine, tenant, ids, ("ubl", "pdf", "facturx"), folder, check=chosen is not None,
                              artifacts=chosen, include=include)
    summary = {**report.as_dict(), "folder": str(folder), "validated_with": str(chosen) if chosen else None,
               "pdf_sample": pdf_sample, "generated_at": (clock.now() if clock else datetime.now(timezone.utc)).isoformat()}
    (folder / "manifest.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary
