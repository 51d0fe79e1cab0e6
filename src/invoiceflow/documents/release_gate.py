"""The e-invoice release gate: an invoice is issued only when its e-invoice can be written and passes.

A lifecycle policy (see lifecycle/service.py) for the action "issue": the stored invoice is mapped and
rendered in the gate's format, which checks every business term the format requires, and, when the
official validation artifacts are configured (INVOICEFLOW_EINVOICE_ARTIFACTS), validated with the official
rules. Any missing term or fatal finding refuses the issue; the refusal names the terms or rule ids and is
audited by the lifecycle service like every refused action. The invoice stays approved until the data is
fixed and it is issued again.

Without configured artifacts the gate checks the business terms only: there is no implicit artifacts
folder (see validation.py), and refusing every issue on a machine without them would stop billing.
The stylesheets are compiled once per process (validation.py), so the gate costs one rendering and one
validation per issued invoice; docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from sqlalchemy import Connection

from invoiceflow.documents.export import render_stored
from invoiceflow.documents.from_db import load_document
from invoiceflow.documents.validation import ENV_VAR, validate
from invoiceflow.errors import NotFound, ValidationError

#: The format the gate renders and validates: plain EN 16931 UBL, which every receiver's rules build on.
GATE_FORMAT = "ubl"


def einvoice_issue_policy(conn: Connection, invoice: Mapping[str, Any], action: str, actor: str) -> str | None:
    """None to allow `action`; for "issue", why the invoice's e-invoice refuses it."""
    if action != "issue":
        return None
    what = f"e-invoice ({GATE_FORMAT})"
    try:
        document = load_document(conn, invoice["tenant_id"], invoice["id"])
        data = render_stored(document, GATE_FORMAT)
    except (ValidationError, NotFound) as error:
        return f"{what} cannot be written: " + "; ".join(_problems(error))
    artifacts = os.environ.get(ENV_VAR) or None
    if artifacts is None:
        return None
    try:
        report = validate(data, artifacts)
    except ValidationError as error:
        return f"{what} could not be validated: " + "; ".join(_problems(error))
    if report.valid:
        return None
    rules = sorted({finding.rule for finding in report.fatal})
    return f"{what} breaks the official rule(s) {', '.join(rules)}; first: {report.fatal[0].message}"


def _problems(error: Exception) -> list[str]:
    return [str(problem) for problem in getattr(error, "problems", [])] or [str(error)]
