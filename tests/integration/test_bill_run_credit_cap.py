"""Bill-run credits of unused days after finance credited the invoice by hand, on SQLite and PostgreSQL: the
credit is capped by what remains of the prepaid line, nothing is credited once the line is credited in full,
an untouched invoice is credited as before, and rerunning the period changes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from governed_seed import CLOCK, T, apply, catalog, ids_by_customer, seed, status_of
from invoiceflow.billing.run import run_bill_run
from invoiceflow.errors import ValidationError
from invoiceflow.lifecycle import void_invoice
from invoiceflow.lifecycle.credit_notes import raise_credit_note
from invoiceflow.review import release
from invoiceflow.store.tables import invoice_lines, invoices
from invoiceflow.store.tenancy import tenant_id

D = Decimal
MID = date(2026, 9, 16)  # 15 of September's 30 days are unused from here
UNUSED = "Unused time: Platform subscription (15/30 days)"


def _cancel(doc, code: str) -> None:
    sub = next(s for s in doc["subscriptions"] if s["code"] == f"s-{code}")
    sub.update(end_date=MID.isoformat(), cancel_mode="immediate")


def _downgrade(doc, code: str) -> None:
    contract = next(c for c in doc["contracts"] if c["code"] == f"c-{code}")
    contract["versions"].append({"effective_from": MID.isoformat(), "plan": "pro-eur",
                                 "price_overrides": {"base": {"model": "flat", "amount": "100.00"}}})


def issued(engine) -> dict[str, int]:
    """September billed in advance (300.00 each) and issued: {customer: invoice id}."""
    seed(engine)
    release(engine, T, clock=CLOCK)
    return {code: ids[0] for code, ids in ids_by_customer(engine).items()}


def hand_credit(engine, invoice_id: int, amount: str | None) -> int:
    """Finance credits `amount` of the invoice's fee line (None: all of it); the credit note is issued."""
    lines = None if amount is None else [{"line_id": fee_line(engine, invoice_id)["id"], "amount": amount}]
    with engine.begin() as conn:
        note = raise_credit_note(conn, tenant_id(conn, T), invoice_id, actor="fin", reason="outage", lines=lines,
                                 clock=CLOCK).credit_note_id
    release(engine, T, [note], clock=CLOCK)
    assert status_of(engine, note) == "issued"
    return note


def change(engine, *edits) -> None:
    doc = catalog()
    for edit, code in edits:
        edit(doc, code)
    apply(engine, doc)


def fee_line(engine, invoice_id: int) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id)
                                 .order_by(invoice_lines.c.position)).mappings().first())


def bill_run_credits(engine, invoice_id: int) -> list[dict]:
    """The lines of the bill run's credit notes against the invoice."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(invoice_lines).join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
            .where(invoices.c.corrects_invoice_id == invoice_id, invoices.c.bill_run_id.is_not(None))
            .order_by(invoice_lines.c.id)).mappings()]


def credited(engine, invoice_id: int) -> Decimal:
    """Everything the credit notes that are not void give back of the invoice."""
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.sum(invoice_lines.c.amount), 0))
                            .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
                            .where(invoices.c.corrects_invoice_id == invoice_id,
                                   invoices.c.status != "void")).scalar_one()


def documents(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(select(invoices.c.id, invoices.c.document_type, invoices.c.total)
                            .order_by(invoices.c.id)).all()


def rerun_changes_nothing(engine) -> None:
    before = documents(engine)
    for as_of in (MID, date(2026, 9, 30)):
        report = run_bill_run(engine, as_of=as_of)
        assert (report.invoices, report.credit_notes) == (0, 0)
    assert documents(engine) == before


# invoiced at the point: the served days' usage (none) on cancellation, 15 days at 100.00 each on downgrade
@pytest.mark.parametrize("edit, invoiced", [(_cancel, D("0.00")), (_downgrade, D("100.00"))])
def test_a_partial_hand_credit_caps_the_bill_run_credit_of_unused_days(engine, edit, invoiced):
    ids = issued(engine)
    hand_credit(engine, ids["paris"], "200.00")  # CN-2026-000001: 100.00 of the 300.00 line remain
    change(engine, (edit, "paris"), (edit, "berlin"))  # Berlin, not credited by hand, is the control
    report = run_bill_run(engine, as_of=MID)

    [capped] = bill_run_credits(engine, ids["paris"])
    assert capped["amount"] == capped["precise_amount"] == D("100.00")  # not the 150.00 the 15 days are worth
    assert capped["description"] == (f"{UNUSED}; capped: 200.00 EUR of its 300.00 EUR net already credited by "
                                     "CN-2026-000001")
    assert capped["trace"]["capped"] == {
        "unused_days_amount": "150.00", "invoice_line_id": fee_line(engine, ids["paris"])["id"],
        "line_net": "300.00", "credited_before": "200.00", "credited_by": ["CN-2026-000001"]}
    assert credited(engine, ids["paris"]) == fee_line(engine, ids["paris"])["amount"] == D("300.00")

    [untouched] = bill_run_credits(engine, ids["berlin"])
    assert (untouched["amount"], untouched["description"], "capped" in untouched["trace"]) == (
        D("150.00"), UNUSED, False)
    assert (report.credit_notes, report.totals[("credit_note", "EUR")]) == (2, D("250.00"))
    assert report.totals[("invoice", "EUR")] == invoiced  # the cap changes no invoice
    with pytest.raises(ValidationError, match="has nothing left to credit"):  # finance sees the line credited in full
        hand_credit(engine, ids["paris"], None)
    rerun_changes_nothing(engine)


@pytest.mark.parametrize("edit", [_cancel, _downgrade])
def test_a_full_hand_credit_leaves_nothing_for_the_bill_run_to_credit(engine, edit):
    ids = issued(engine)
    hand_credit(engine, ids["paris"], None)
    change(engine, (edit, "paris"))
    report = run_bill_run(engine, as_of=MID)

    assert bill_run_credits(engine, ids["paris"]) == [] and report.credit_notes == 0  # no empty credit note either
    assert credited(engine, ids["paris"]) == D("300.00")
    if edit is _downgrade:  # the new price is still invoiced from the downgrade on
        assert report.totals[("invoice", "EUR")] == D("50.00")
    rerun_changes_nothing(engine)


def test_a_voided_hand_credit_gives_nothing_back_so_the_unused_days_are_credited_in_full(engine):
    ids = issued(engine)
    note = hand_credit(engine, ids["paris"], None)
    void_invoice(engine, T, note, actor="fin", reason="raised on the wrong invoice", clock=CLOCK)
    change(engine, (_cancel, "paris"))
    run_bill_run(engine, as_of=MID)
    [line] = bill_run_credits(engine, ids["paris"])
    assert (line["amount"], line["description"]) == (D("150.00"), UNUSED)
