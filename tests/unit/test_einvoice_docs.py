"""docs/einvoicing.md stays true: its JSON example renders in every format with the totals the page states."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from invoiceflow.documents.invoice_input import parse_invoice
from invoiceflow.documents.formats import FORMATS
from invoiceflow.documents.render import render
from invoiceflow.documents.totals import compute_totals
from invoiceflow.documents.validation import validate

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".." / "shared" / "einvoice"
PAGE = (REPO / "docs" / "einvoicing.md").read_text(encoding="utf-8")
EXAMPLE = json.loads(re.search(r"```json\n(.*?)```", PAGE, re.S).group(1))


def test_example_totals_match_the_page():
    totals = compute_totals(parse_invoice(EXAMPLE))
    assert [item.net_amount for item in totals.lines] == [Decimal("1068.75"), Decimal("74.85")]
    assert [(b.rate, b.taxable_amount, b.tax_amount) for b in totals.breakdown] == [
        (Decimal("19"), Decimal("1068.75"), Decimal("203.06")), (Decimal("7"), Decimal("79.75"), Decimal("5.58"))]
    assert (totals.tax_exclusive, totals.tax_total, totals.payable) == (Decimal("1148.50"), Decimal("208.64"), Decimal("1357.14"))
    for figure in ("1068.75", "74.85", "203.06", "79.75", "5.58", "1148.50", "208.64", "1357.14"):
        assert figure in PAGE


@pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
@pytest.mark.parametrize("fmt", FORMATS)
def test_example_renders_and_validates_in_every_format(fmt):
    report = validate(render(parse_invoice(EXAMPLE), fmt), ARTIFACTS)
    assert report.fatal == [], [str(f) for f in report.fatal]


def test_every_format_and_exit_code_is_documented():
    for fmt in FORMATS:
        assert f"| `{fmt}` |" in PAGE
    assert "INVOICEFLOW_EINVOICE_ARTIFACTS" in PAGE and "There is **no default**" in PAGE
