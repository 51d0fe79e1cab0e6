"""Credit notes raised by finance against an issued invoice, on SQLite and PostgreSQL: full and partial
credits, what remains after earlier (and bill-run) credit notes, idempotency by reference, refusals that
write nothing, the governed path (tax, approval matrix, segregation of duties), posting, revenue
recognition, the e-invoice, concurrency and the migration that made room for them."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from documents_seed import ARTIFACTS, XML_FORMATS, seed_documents
from governed_seed import CLOCK, T, apply, catalog, ids_by_customer, policy_text, seed, status_of
from invoiceflow.audit.log import read_entries
from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.billing.run import run_bill_run
from invoiceflow.clock import FrozenClock
from invoiceflow.documents.export import check_document, render_stored
from invoiceflow.documents.from_db import load_document
from invoiceflow.documents.validation import ENV_VAR
from invoiceflow.effects import InlineRunner
from invoiceflow.errors import ConflictError, NotFound, ValidationError
from invoiceflow.ledger import SqlLedger, trial_balance
from invoiceflow.ledger.erp_posting import erp_handlers
from invoiceflow.lifecycle import SegregationOfDuties, approve_invoice, issue_invoice, void_invoice
from invoiceflow.lifecycle.credit_notes import raise_credit_note
from invoiceflow.policy.store import apply_policy
from invoiceflow.revenue import recognize_through
from invoiceflow.review import release
from invoiceflow.review.queries import invoice_findings
from invoiceflow.store.db import alembic_config
from invoiceflow.store.effects_tables import effects
from invoiceflow.store.review_tables import invoice_taxes
from invoiceflow.store.revrec_tables import revenue_schedule_periods, revenue_schedules
from invoiceflow.store.tables import audit_log, credit_note_requests, invoice_lines, invoices
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

D = Decimal


def issued(engine, doc=None) -> dict[str, int]:
    """The governed tenant billed for September and released: every invoice issued. {customer: invoice id}."""
    seed(engine, doc)
    release(engine, T, clock=CLOCK)
    return {code: ids[0] for code, ids in ids_by_customer(engine).items()}


def credit(engine, invoice_id: int, *, actor: str = "fin", reason: str | None = "goodwill", lines=None,
           reference: str | None = None, tenant: str = T):
    with engine.begin() as conn:
        return raise_credit_note(conn, tenant_id(conn, tenant), invoice_id, actor=actor, reason=reason,
                                 lines=lines, reference=reference, clock=CLOCK)


def row(engine, invoice_id: int) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(invoices).where(invoices.c.id == invoice_id)).mappings().one())


def lines_of(engine, invoice_id: int) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id)
                                              .order_by(invoice_lines.c.position)).mappings()]


def counts(engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (invoices, invoice_lines, credit_note_requests, audit_log, effects))


def fee_line(engine, invoice_id: int) -> int:
    return lines_of(engine, invoice_id)[0]["id"]


def test_a_full_credit_is_a_draft_that_mirrors_the_invoice_and_is_released_like_one(engine):
    ids = issued(engine)
    invoice = row(engine, ids["berlin"])
    result = credit(engine, ids["berlin"], reason="service outage in September", reference="CN-REQ-1")
    assert (result.created, result.status, result.currency, result.total) == (True, "draft", "EUR", D("300.00"))
    note = row(engine, result.credit_note_id)
    assert (note["document_type"], note["corrects_invoice_id"], note["created_by"], note["bill_run_id"]) == (
        "credit_note", ids["berlin"], "fin", None)
    assert (note["billing_date"], note["customer_id"], note["legal_entity_id"], note["subscription_id"]) == (
        invoice["billing_date"], invoice["customer_id"], invoice["legal_entity_id"], invoice["subscription_id"])
    [billed] = lines_of(engine, ids["berlin"])
    [line] = lines_of(engine, result.credit_note_id)
    assert (line["line_type"], line["credits_line_id"], line["amount"], line["quantity"], line["product_code"]) == (
        "credit", billed["id"], D("300.00"), D("1"), "platform")
    assert (line["service_start"], line["service_end"]) == (billed["service_start"], billed["service_end"])
    assert line["description"] == f"Credit: Platform subscription ({invoice['number']} line 1)"
    with engine.connect() as conn:
        request = conn.execute(select(credit_note_requests)).mappings().one()
        [entry] = [e for e in read_entries(conn, tenant_id(conn, T)) if e.action == "invoice.credit"]
    assert (request["reason"], request["reference"], request["requested_by"]) == (
        "service outage in September", "CN-REQ-1", "fin")
    assert (entry.object_id, entry.actor, entry.payload["credit_note"], entry.payload["total"]) == (
        str(ids["berlin"]), "fin", result.credit_note_id, "300.00")

    release(engine, T, clock=CLOCK)
    note = row(engine, result.credit_note_id)
    assert (note["status"], note["number"]) == ("issued", "CN-2026-000001")
    assert (note["tax_total"], note["total"]) == (invoice["tax_total"], invoice["total"])  # 57.00, 357.00
    with engine.connect() as conn:
        taxes = {i: conn.execute(select(invoice_taxes.c.category, invoice_taxes.c.rate, invoice_taxes.c.tax_amount)
                                 .where(invoice_taxes.c.invoice_id == i)).all() for i in (ids["berlin"], note["id"])}
    assert taxes[note["id"]] == taxes[ids["berlin"]]
    assert verify_audit_log(engine).ok


def test_partial_credits_never_exceed_what_remains_of_a_line(engine):
    ids = issued(engine)
    line = fee_line(engine, ids["austin"])
    half = credit(engine, ids["austin"], lines=[{"line_id": line, "quantity": "0.5"}])
    assert half.total == D("150.00") and lines_of(engine, half.credit_note_id)[0]["quantity"] == D("0.5")
    assert credit(engine, ids["austin"], lines=[{"line_id": line, "amount": "100.00"}]).total == D("100.00")
    before = counts(engine)
    with pytest.raises(ValidationError) as refused:
        credit(engine, ids["austin"], lines=[{"line_id": line, "amount": "50.01"}])
    assert str(refused.value) == (f"invoice {ids['austin']} line {line}.amount: cannot credit 50.01 USD of Platform "
                                  "subscription (position 1): only 50.00 USD of its 300.00 USD net remains uncredited")
    assert counts(engine) == before
    rest = credit(engine, ids["austin"], lines=[{"line_id": line}])
    assert rest.total == D("50.00") and lines_of(engine, rest.credit_note_id)[0]["quantity"] is None
    with pytest.raises(ValidationError, match=rf"invoice {ids['austin']}: has nothing left to credit"):
        credit(engine, ids["austin"])


def test_a_voided_credit_note_gives_its_amount_back_to_credit(engine):
    ids = issued(engine)
    first = credit(engine, ids["oakland"])
    with pytest.raises(ValidationError, match="nothing left to credit"):
        credit(engine, ids["oakland"])
    void_invoice(engine, T, first.credit_note_id, actor="fin", reason="raised on the wrong invoice", clock=CLOCK)
    assert credit(engine, ids["oakland"]).total == D("300.00")


def test_the_same_reference_returns_the_same_credit_note_and_writes_nothing(engine):
    ids = issued(engine)
    request = dict(lines=[{"line_id": fee_line(engine, ids["berlin"]), "amount": "20"}], reason="late delivery",
                   reference="crm-4711")
    first = credit(engine, ids["berlin"], **request)
    before = counts(engine)
    again = credit(engine, ids["berlin"], **{**request, "lines": [{**request["lines"][0], "amount": "20.00"}]})
    assert (again.credit_note_id, again.created, again.total) == (first.credit_note_id, False, D("20.00"))
    assert counts(engine) == before
    with pytest.raises(ConflictError, match=rf"reference 'crm-4711' was already used for credit note "
                                            rf"{first.credit_note_id} against invoice {ids['berlin']} with a "
                                            "different request"):
        credit(engine, ids["berlin"], **{**request, "reason": "another reason"})
    assert counts(engine) == before


def _void(engine, ids):
    void_invoice(engine, T, ids["berlin"], actor="fin", reason="billed the wrong entity", clock=CLOCK)
    return ids["berlin"], {}


def _credit_note(engine, ids):
    return credit(engine, ids["berlin"]).credit_note_id, {}


def _other_tenant(engine, ids):
    with engine.begin() as conn:
        tenant_id(conn, "other")
    return ids["berlin"], {"tenant": "other"}


def _line(engine, ids, **values):
    return ids["berlin"], {"lines": [{"line_id": fee_line(engine, ids["berlin"]), **values}]}


@pytest.mark.parametrize("setup, error, message", [
    (_void, ValidationError, "invoice {id}.status: is void: only issued invoices (issued, posted, partially_paid, "
                             "paid) are credited; a void invoice owes nothing"),
    (_credit_note, ValidationError, "invoice {id}: is a credit note: only invoices are credited"),
    (_other_tenant, NotFound, "invoice {id} does not exist in this tenant"),
    (lambda e, ids: (ids["berlin"], {"reason": "  "}), ValidationError,
     "invoice {id}.reason: is required: why the invoice is credited (--reason)"),
    (lambda e, ids: (ids["berlin"], {"lines": [{"line_id": 999_999}]}), ValidationError,
     "invoice {id} line 999999.line_id: is not a line of this invoice (its creditable lines: "),
    (lambda e, ids: _line(e, ids, quantity="-1"), ValidationError, ".quantity: must be greater than zero, got -1"),
    (lambda e, ids: _line(e, ids, amount="300.01"), ValidationError,
     "cannot credit 300.01 EUR of Platform subscription (position 1): only 300.00 EUR"),
    (lambda e, ids: _line(e, ids, amount=1.5), ValidationError, "lines[0].amount: must be a decimal string"),
    (lambda e, ids: _line(e, ids, price="1"), ValidationError, "lines[0]: unknown key(s) price"),
    (lambda e, ids: (ids["berlin"], {"lines": []}), ValidationError, "invoice {id}.lines: name at least one line"),
    (lambda e, ids: (ids["berlin"], {"reference": "x" * 129}), ValidationError, "invoice {id}.reference: "),
])
def test_refused_requests_write_nothing(engine, setup, error, message):
    ids = issued(engine)
    invoice_id, request = setup(engine, ids)
    before = counts(engine)
    with pytest.raises(error) as refused:
        credit(engine, invoice_id, **request)
    assert message.format(id=invoice_id) in str(refused.value)
    assert counts(engine) == before


def test_a_draft_invoice_is_not_credited(engine):
    seed(engine)
    draft = ids_by_customer(engine)["berlin"][0]
    with pytest.raises(ValidationError, match=rf"invoice {draft}.status: is draft: only issued invoices .* "
                                              "void it or correct it before issue"):
        credit(engine, draft)


def test_bill_run_credit_notes_count_against_what_remains(engine):
    ids = issued(engine)
    doc = catalog()
    paris = next(s for s in doc["subscriptions"] if s["code"] == "s-paris")
    paris.update(end_date="2026-09-16", cancel_mode="immediate")
    apply(engine, doc)
    run_bill_run(engine, as_of=date(2026, 9, 16))
    with engine.connect() as conn:
        bill_run_note = conn.execute(select(invoices.c.total).where(
            invoices.c.corrects_invoice_id == ids["paris"], invoices.c.bill_run_id.is_not(None))).scalar_one()
    assert bill_run_note == D("150.00")  # 15 unused days
    line = fee_line(engine, ids["paris"])
    with pytest.raises(ValidationError, match=r"only 150.00 EUR of its 300.00 EUR net remains uncredited"):
        credit(engine, ids["paris"], lines=[{"line_id": line, "amount": "150.01"}])
    assert credit(engine, ids["paris"]).total == D("150.00")


def test_the_approval_matrix_and_segregation_of_duties_govern_the_release(engine):
    ids = issued(engine)
    with engine.begin() as conn:
        tid = tenant_id(conn, T)
        set_member(conn, tid, "fay", ["finance"], actor="ada", at=CLOCK.now())

        def lower_limit(doc):
            rule = next(r for r in doc["approvals"]["rules"] if r["when"].get("document_type") == "credit_note")
            rule["when"]["min_total"]["EUR"] = 100
        apply_policy(conn, tid, policy_text(lower_limit), actor="ada", at=CLOCK.now())
    small = credit(engine, ids["berlin"], lines=[{"line_id": fee_line(engine, ids["berlin"]), "amount": "50"}])
    large = credit(engine, ids["berlin"], lines=[{"line_id": fee_line(engine, ids["berlin"]), "amount": "200"}])
    release(engine, T, clock=CLOCK)
    assert status_of(engine, small.credit_note_id) == "issued"  # 59.50 with tax: no approval needed
    assert status_of(engine, large.credit_note_id) == "pending_approval"  # 238.00: finance must approve
    with pytest.raises(SegregationOfDuties, match="fin cannot approve this invoice: fin created it"):
        approve_invoice(engine, T, large.credit_note_id, actor="fin", clock=CLOCK)
    approve_invoice(engine, T, large.credit_note_id, actor="fay", clock=CLOCK)
    assert issue_invoice(engine, T, large.credit_note_id, actor="fay", clock=CLOCK).number == "CN-2026-000002"
    with engine.begin() as conn, pytest.raises((IntegrityError, DBAPIError), match="segregation of duties"):
        conn.execute(update(invoices).where(invoices.c.id == small.credit_note_id)
                     .values(status="approved", approved_by="fin"))  # the database refuses it too


def test_two_identical_credit_notes_are_held_as_possible_duplicates(engine):
    ids = issued(engine)
    request = {"lines": [{"line_id": fee_line(engine, ids["berlin"]), "amount": "10.00"}]}
    notes = [credit(engine, ids["berlin"], **request).credit_note_id for _ in range(2)]
    release(engine, T, clock=CLOCK)
    for note in notes:
        assert status_of(engine, note) == "held"
        assert [f["code"] for f in invoice_findings(engine, T, note)] == ["duplicate.same_amount_and_period"]


def _quarterly_austin(doc) -> None:
    austin = next(s for s in doc["subscriptions"] if s["code"] == "s-austin")
    austin.update(interval="quarterly", anchor="anniversary")


def _balance(engine, account: str) -> Decimal:
    """Debits minus credits of an acme-us account."""
    return sum((r.balance for r in trial_balance(engine, T, legal_entity="acme-us").rows if r.account == account),
               D(0))


def _months(engine, invoice_id: int) -> tuple[dict, dict[str, Decimal]]:
    with engine.connect() as conn:
        schedule = conn.execute(select(revenue_schedules).where(revenue_schedules.c.invoice_id == invoice_id)
                                ).mappings().one()
        months = conn.execute(select(revenue_schedule_periods.c.period, revenue_schedule_periods.c.amount)
                              .where(revenue_schedule_periods.c.schedule_id == schedule["id"])).all()
    return dict(schedule), dict(months)


def test_posting_reduces_the_receivable_and_recognition_reverses_the_credited_revenue(engine):
    ids = issued(engine, catalog(change=_quarterly_austin))  # 300.00 for Sept 1 - Dec 1, 6.25 % Texas tax
    line = fee_line(engine, ids["austin"])
    note = credit(engine, ids["austin"], lines=[{"line_id": line, "amount": "150.00"}]).credit_note_id
    release(engine, T, clock=CLOCK)
    InlineRunner().run_until_idle(engine, clock=CLOCK, handlers=erp_handlers())
    assert (status_of(engine, ids["austin"]), status_of(engine, note)) == ("posted", "posted")
    with engine.connect() as conn:
        entry = SqlLedger().find(conn, tenant_id(conn, T), f"credit_note:{note}:issued").entry
    assert sorted((l.account, l.debit, l.credit) for l in entry.lines) == [
        ("1100", D("0.00"), D("159.38")), ("2100", D("9.38"), D("0.00")), ("4000", D("150.00"), D("0.00"))]
    billed = row(engine, ids["austin"])["total"] + row(engine, ids["oakland"])["total"]
    assert _balance(engine, "1100") == billed - D("159.38")  # the receivable, reduced by the credit note

    recognize_through(engine, T, "2026-09", clock=FrozenClock(datetime(2026, 10, 1, 9, tzinfo=timezone.utc)))
    schedule, reversed_ = _months(engine, note)
    _, recognized = _months(engine, ids["austin"])
    assert (schedule["allocated"], schedule["service_start"], schedule["service_end"]) == (
        D("-150.00"), date(2026, 9, 1), date(2026, 12, 1))
    assert reversed_ == {month: -amount / 2 for month, amount in recognized.items()}  # half, month by month
    # revenue is what September earned net of the credit (Oakland's whole month too); the rest is deferred
    september = recognized["2026-09"] + reversed_["2026-09"]
    assert _balance(engine, "4000") == -(september + D("300.00"))
    assert _balance(engine, "2300") == -(D("150.00") - september)


@pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
def test_the_einvoice_of_a_credit_note_references_the_invoice_and_passes_the_official_rules(engine, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(ARTIFACTS))  # the release gate validates each e-invoice before issue
    ids = seed_documents(engine, credit_note=False)  # Berlin: 300.00 less a 5 % discount and 100.00 prepaid
    berlin = row(engine, ids["berlin"])
    note = credit(engine, ids["berlin"], lines=[{"line_id": fee_line(engine, ids["berlin"]), "quantity": "0.5"}])
    assert note.total == D("142.50")  # half of the line's net 285.00: the discount is credited in proportion
    release(engine, T, clock=CLOCK)
    stored = row(engine, note.credit_note_id)
    assert (stored["status"], stored["tax_total"], stored["total"]) == ("issued", D("27.08"), D("169.58"))
    with engine.connect() as conn:
        document = load_document(conn, tenant_id(conn, T), note.credit_note_id)
    invoice = document.invoice
    assert invoice.is_credit_note and invoice.number == stored["number"]
    assert (invoice.preceding_invoice.number, invoice.preceding_invoice.issue_date) == (
        berlin["number"], berlin["issued_at"].date())
    assert [(line.quantity, line.net_price) for line in invoice.lines] == [(D("0.5"), D("285"))]
    for fmt in XML_FORMATS:
        data = render_stored(document, fmt)
        report = check_document(data, fmt, ARTIFACTS)
        assert report.fatal == [], f"{fmt}:\n" + "\n".join(map(str, report.fatal))
        assert berlin["number"].encode() in data  # BT-25, the preceding invoice


def test_two_people_crediting_one_invoice_at_once_never_over_credit(engine):
    ids = issued(engine)
    outcomes: list[object] = []

    def attempt(actor: str) -> None:
        try:
            outcomes.append(credit(engine, ids["berlin"], actor=actor).total)
        except ValidationError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(name,)) for name in ("fin", "ada")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(map(str, outcomes)) == ["300.00", f"invoice {ids['berlin']}: has nothing left to credit: every "
                                                    "line is credited in full already"]


def test_the_migration_keeps_rows_indexes_and_triggers(engine):
    ids = issued(engine)
    config = alembic_config(engine)
    command.downgrade(config, "0011@-1")
    command.upgrade(config, "heads")
    assert row(engine, ids["berlin"])["number"] == "INV-2026-000001"
    with engine.begin() as conn, pytest.raises((IntegrityError, DBAPIError), match="never edited"):
        conn.execute(update(invoices).where(invoices.c.id == ids["berlin"]).values(total=D("1.00")))
    copy = {k: v for k, v in row(engine, ids["berlin"]).items() if k not in ("id", "number", "number_series",
                                                                             "number_year", "number_seq")}
    with engine.begin() as conn, pytest.raises(IntegrityError, match="uq_invoices_bill_run_point|UNIQUE"):
        conn.execute(insert(invoices).values(copy))  # a bill run's point is still billed once
    assert credit(engine, ids["berlin"], lines=[{"line_id": fee_line(engine, ids["berlin"]), "amount": "1"}]).created
    assert credit(engine, ids["berlin"], lines=[{"line_id": fee_line(engine, ids["berlin"]), "amount": "1"}]).created
