"""Stored documents to files: every chosen format of every matching document, with a validation summary.

Used by `invoiceflow einvoice export` and by the demo. Each file is written atomically. With validation,
a document that breaks a fatal rule is not written (as with `einvoice render --validate`) and its rule ids
are reported; a document a format cannot carry (missing business terms) is reported with the terms, and
the export carries on with the rest, so one bad invoice does not hide the state of the others.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from sqlalchemy import Engine, select

from invoiceflow.documents.formats import get_document_profile
from invoiceflow.documents.from_db import RENDERABLE, StoredDocument, load_document
from invoiceflow.documents.parties import for_profile
from invoiceflow.documents.render import render, write_atomically
from invoiceflow.documents.validation import ValidationReport, resolve_artifacts, validate
from invoiceflow.errors import ValidationError
from invoiceflow.store.tables import invoices
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

#: Decides whether one (document, format) is written; `index` counts documents from 0 in export order.
Include = Callable[[StoredDocument, str, int], bool]


def file_name(document: StoredDocument, fmt: str) -> str:
    """`<entity>-<number>.pdf`, `.facturx.pdf`, or `.<format>.xml` (several XML formats share a folder)."""
    suffix = {"pdf": ".pdf", "facturx": ".facturx.pdf"}.get(fmt, f".{fmt}.xml")
    return document.file_stem + suffix


def render_stored(document: StoredDocument, fmt: str, *, locale: str = "en") -> bytes:
    """The bytes of a loaded stored document in format `fmt` (RequirementsError names missing terms)."""
    profile = get_document_profile(fmt)
    return render(for_profile(document.invoice, profile), profile, locale=locale)


def check_document(data: bytes, fmt: str, artifacts: str | os.PathLike[str] | None) -> ValidationReport | None:
    """The official rules' report on a rendered document; None for a plain PDF (it carries no data)."""
    if fmt == "pdf":
        return None
    if fmt == "facturx":
        from invoiceflow.documents.facturx import validate_facturx

        return validate_facturx(data, artifacts)
    return validate(data, artifacts)


@dataclass
class ExportReport:
    """What an export did. `failed` maps a file to the fatal rules it broke (it was not written)."""

    documents: int = 0
    written: int = 0
    skipped: int = 0
    validated: int = 0
    valid: int = 0
    failed: dict[str, list[str]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    validation_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.refused

    def as_dict(self) -> dict:
        return {"documents": self.documents, "written": self.written, "skipped": self.skipped,
                "validated": self.validated, "valid": self.valid, "failed": self.failed, "refused": self.refused,
                "validation_seconds": round(self.validation_seconds, 3)}


def document_ids(engine: Engine, tenant: str, statuses: Sequence[str]) -> list[int]:
    """Ids of the tenant's documents in `statuses`, oldest first; only renderable statuses are accepted."""
    wrong = [status for status in statuses if status not in RENDERABLE]
    if wrong:
        raise ValidationError(f"cannot export documents that are {', '.join(wrong)}: choose among "
                              f"{', '.join(RENDERABLE)}", field="status")
    with engine.connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        query = select(invoices.c.id).where(invoices.c.tenant_id == tid, invoices.c.status.in_(list(statuses)))
        return list(conn.execute(query.order_by(invoices.c.id)).scalars())


def export_documents(engine: Engine, tenant: str, ids: Iterable[int], formats: Sequence[str],
                     out: str | os.PathLike[str], *, check: bool = False, artifacts: str | os.PathLike[str] | None = None, locale: str = "en",
                     include: Include | None = None, on_progress: Callable[[int], None] | None = None) -> ExportReport:
    """Write documents `ids` of `tenant` in `formats` into folder `out` (created if missing)."""
    profiles = [get_document_profile(fmt).name for fmt in formats]  # unknown formats fail before any work
    if check:
        artifacts = resolve_artifacts(artifacts)  # not configured: fail before writing anything
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    with engine.connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        for index, invoice_id in enumerate(ids):
            report.documents += 1
            try:
                document = load_document(conn, tid, invoice_id)
            except ValidationError as error:
                report.refused[f"invoice {invoice_id}"] = str(error)
                continue
            for fmt in profiles:
                if include is not None and not include(document, fmt, index):
                    report.skipped += 1
                    continue
                _write_one(document, fmt, folder, report, check=check, artifacts=artifacts, locale=locale)
            if on_progress:
                on_progress(index + 1)
    return report


def _write_one(document: StoredDocument, fmt: str, folder: Path, report: ExportReport, *, check: bool,
               artifacts, locale: str) -> None:
    name = file_name(document, fmt)
    try:
        data = render_stored(document, fmt, locale=locale)
    except ValidationError as error:
        report.refused[name] = "; ".join(str(problem) for problem in error.problems)
        return
    if check and fmt != "pdf":
        started = time.perf_counter()
        checked = check_document(data, fmt, artifacts)
        report.validation_seconds += time.perf_counter() - started
        report.validated += 1
        if checked is not None and not checked.valid:
            report.failed[name] = sorted(checked.rules("fatal"))
            return
        report.valid += 1
    write_atomically(folder / name, data)
    report.written += 1
