"""The built-in ledger on SQLite and PostgreSQL: posting invoices from a real bill run, idempotency,
conflicts, missing mappings, append-only books and the trial balance."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from invoiceflow.audit.log import read_entries
from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import FrozenClock
from invoiceflow.errors import ConflictError, ValidationError
from invoiceflow.ledger import (
    JournalEntry, JournalLine, Ledger, MissingMapping, SqlLedger, missing_mappings, post_invoice, post_payment,
    trial_balance)
from invoiceflow.lifecycle import approve_invoice, issue_invoice, submit_invoice, validate_invoice, void_invoice
from invoiceflow.store.ledger_tables import journal_entries, journal_lines
from invoiceflow.store.review_tables import gl_accounts, gl_mappings, invoice_taxes
from invoiceflow.store.tables import audit_log, invoice_lines, invoices, legal_entities
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.yaml"
T = "default"
D = Decimal
AT = datetime(2026, 4, 2, 9, 30, tzinfo=timezone.utc)
ACCOUNTS = [("1100", "Receivables", "asset"), ("1000", "Bank", "asset"), ("2200", "Tax payable", "liability"),
            ("2400", "Deferred revenue", "liability"), ("4000", "Revenue", "revenue"),
            ("4100", "API revenue", "revenue")]
MAPPINGS = [("receivable", "", "1100"), ("cash", "", "1000"), ("tax", "", "2200"), ("deferred_revenue", "", "2400"),
            ("revenue", "", "4000"), ("revenue", "api", "4100")]


def set_up_gl(conn, entity: str, mappings=MAPPINGS) -> None:
    tid = tenant_id(conn)
    eid = conn.execute(select(legal_entities.c.id).where(legal_entities.c.code == entity)).scalar_one()
    conn.execute(insert(gl_accounts), [{"tenant_id": tid, "legal_entity_id": eid, "code": c, "name": n, "type": k}
                                       for c, n, k in ACCOUNTS])
    conn.execute(insert(gl_mappings), [{"tenant_id": tid, "legal_entity_id": eid, "role": r, "product_code": p,
                                        "account_code": a} for r, p, a in mappings])


@pytest.fixture
def billed(engine):
    """Draft invoices from a bill run (1-6 acme-us in USD, 7-10 acme-jp in JPY); GL set up for acme-us only."""
    with engine.begin() as conn:
        apply_document(conn, tenant_id(conn), load_document(CATALOG))
        set_member(conn, tenant_id(conn), "bob", ["approver"], actor="admin", at=AT)
        set_up_gl(conn, "acme-us")
    run_bill_run(engine, as_of=date(2026, 4, 1))
    return engine


def issue(engine, invoice_id, at=AT):
    clock = FrozenClock(at)
    validate_invoice(engine, T, invoice_id, actor="alice", clock=clock)
    submit_invoice(engine, T, invoice_id, actor="alice", clock=clock)
    approve_invoice(engine, T, invoice_id, actor="bob", clock=clock)
    return issue_invoice(engine, T, invoice_id, actor="carol", clock=clock)


def post(engine, invoice_id, at=AT):
    with engine.begin() as conn:
        return post_invoice(conn, T, invoice_id, at=at)


def counts(engine):
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (journal_entries, journal_lines, audit_log))


def lines_of(posted):
    return [(l.account, l.product, l.debit, l.credit) for l in posted.entry.lines]


def add_tax(engine, invoice_id, base, rate, tax):
    with engine.begin() as conn:
        conn.execute(insert(invoice_taxes).values(tenant_id=tenant_id(conn), invoice_id=invoice_id, category="S",
                                                  rate=rate, jurisdiction="US-NY", taxable_amount=base,
                                                  tax_amount=tax))
        total = conn.execute(select(invoices.c.total).where(invoices.c.id == invoice_id)).scalar_one()
        conn.execute(update(invoices).where(invoices.c.id == invoice_id).values(
            tax_total=tax, total=total + tax, tax_status="calculated"))


def test_posts_an_issued_invoice_with_discount_and_tax_and_audits_it(billed):
    add_tax(billed, 1, D("15.30"), D("8.875"), D("1.36"))
    issued = issue(billed, 1)
    [posted] = post(billed, 1)
    assert posted.new and posted.entry.entry_key == "invoice:1:issued"
    assert (posted.entry.date, posted.entry.legal_entity, posted.entry.currency) == (date(2026, 4, 2), "acme-us", "USD")
    assert posted.entry.memo == f"invoice {issued.number} issued"
    assert lines_of(posted) == [("1100", None, D("16.66"), D("0.00")), ("4000", "platform", D("0.00"), D("17.00")),
                                ("4000", None, D("1.70"), D("0.00")), ("2200", None, D("0.00"), D("1.36"))]
    with billed.connect() as conn:
        [audited] = [e for e in read_entries(conn, tenant_id(conn)) if e.action == "ledger.posted"]
        assert SqlLedger().find(conn, tenant_id(conn), "invoice:1:issued").entry == posted.entry
    assert audited.payload["entry_key"] == "invoice:1:issued" and audited.payload["total"] == "18.36"
    assert verify_audit_log(billed).ok


def test_reposting_is_a_no_op_and_conflicting_content_is_refused(billed):
    issue(billed, 2)
    [first] = post(billed, 2)
    before = counts(billed)
    [again] = post(billed, 2, at=datetime(2026, 4, 5, tzinfo=timezone.utc))
    assert (again.new, again.id, again.entry, again.posted_at) == (False, first.id, first.entry, first.posted_at)
    assert counts(billed) == before
    changed = JournalEntry(entry_key="invoice:2:issued", legal_entity="acme-us", date=date(2026, 4, 2),
                           currency="USD", lines=[JournalLine("1100", debit=D("31.01")),
                                                  JournalLine("4000", credit=D("31.01"))])
    with billed.begin() as conn, pytest.raises(ConflictError, match="already posted .* with different content"):
        SqlLedger().post(conn, tenant_id(conn), changed, at=AT)
    assert counts(billed) == before


def test_missing_mapping_names_entity_product_and_role_and_writes_nothing(billed):
    with billed.begin() as conn:  # acme-jp maps revenue for api only: platform has nowhere to go
        set_up_gl(conn, "acme-jp", [("receivable", "", "1100"), ("revenue", "api", "4100")])
    issue(billed, 8)
    before = counts(billed)
    with billed.begin() as conn:
        gaps = missing_mappings(conn, T, 8)
        assert [(g.legal_entity, g.role, g.product) for g in gaps] == [("acme-jp", "revenue", "platform")]
        with pytest.raises(MissingMapping, match="legal entity acme-jp.gl_mappings: no GL account is mapped for "
                                                 "role 'revenue' and product 'platform'"):
            post_invoice(conn, T, 8, at=AT)
    assert counts(billed) == before
    with billed.begin() as conn:
        jp = conn.execute(select(legal_entities.c.id).where(legal_entities.c.code == "acme-jp")).scalar_one()
        conn.execute(insert(gl_mappings).values(tenant_id=tenant_id(conn), legal_entity_id=jp, role="revenue",
                                                product_code="", account_code="4000"))
        assert missing_mappings(conn, T, 8) == []
    [posted] = post(billed, 8)
    assert lines_of(posted) == [("1100", None, D("1000"), D("0")), ("4000", "platform", D("0"), D("1000"))]


def test_drafts_are_not_posted_and_unknown_accounts_are_refused(billed):
    with billed.begin() as conn, pytest.raises(ValidationError, match="invoice 3: is draft: only issued documents"):
        post_invoice(conn, T, 3, at=AT)
    stray = JournalEntry(entry_key="manual:1", legal_entity="acme-us", date=date(2026, 4, 2), currency="USD",
                         lines=[JournalLine("1100", debit=D("5.00")), JournalLine("9999", credit=D("5.00"))])
    with billed.begin() as conn, pytest.raises(ValidationError, match="account '9999' is not in the chart of "
                                                                      "accounts of legal entity acme-us"):
        SqlLedger().post(conn, tenant_id(conn), stray, at=AT)
    assert counts(billed)[:2] == (0, 0)


def test_prepaid_credit_future_service_and_credit_note(billed):
    issue(billed, 6)  # arrears 30.00 less 10.00 prepaid credit
    assert lines_of(post(billed, 6)[0]) == [("1100", None, D("20.00"), D("0.00")),
                                            ("4000", "platform", D("0.00"), D("30.00")),
                                            ("2400", None, D("10.00"), D("0.00"))]
    issue(billed, 4, at=datetime(2026, 3, 31, 12, tzinfo=timezone.utc))  # service starts 2026-04-01
    [deferred] = post(billed, 4, at=datetime(2026, 3, 31, 12, tzinfo=timezone.utc))
    assert lines_of(deferred) == [("1100", None, D("31.00"), D("0.00")), ("2400", "platform", D("0.00"), D("31.00"))]
    with billed.begin() as conn:  # a credit note for part of invoice 2
        row = dict(conn.execute(select(invoices).where(invoices.c.id == 2)).mappings().one())
        row.update(document_type="credit_note", corrects_invoice_id=2, subtotal=D("10.00"), total=D("10.00"))
        note = conn.execute(insert(invoices).values({k: v for k, v in row.items() if k != "id"})
                            .returning(invoices.c.id)).scalar_one()
        conn.execute(insert(invoice_lines).values(
            tenant_id=row["tenant_id"], invoice_id=note, position=1, line_type="fee_advance", product_code="platform",
            description="Unused platform days", amount=D("10.00"), precise_amount=D("10.00"),
            service_start=date(2026, 2, 20), service_end=date(2026, 3, 1)))
    issue(billed, note)
    [credit] = post(billed, note)
    assert credit.entry.entry_key == f"credit_note:{note}:issued" and credit.entry.source_type == "credit_note"
    assert lines_of(credit) == [("1100", None, D("0.00"), D("10.00")), ("4000", "platform", D("10.00"), D("0.00"))]


def test_void_posts_the_exact_reversal_once(billed):
    issue(billed, 3)
    [issued] = post(billed, 3)
    void_invoice(billed, T, 3, actor="bob", reason="wrong customer",
                 clock=FrozenClock(datetime(2026, 4, 9, tzinfo=timezone.utc)))
    posted = post(billed, 3, at=datetime(2026, 4, 9, tzinfo=timezone.utc))
    assert [p.new for p in posted] == [False, True]
    reversal = posted[1].entry
    assert (reversal.entry_key, reversal.reverses, reversal.date) == ("invoice:3:void", "invoice:3:issued",
                                                                       date(2026, 4, 9))
    assert lines_of(posted[1]) == [(a, p, c, d) for a, p, d, c in lines_of(issued)]
    assert [p.new for p in post(billed, 3)] == [False, False]
    second = JournalEntry(entry_key="manual:reversal", legal_entity="acme-us", date=date(2026, 4, 10),
                          currency="USD", lines=reversal.lines, reverses="invoice:3:issued")
    with billed.begin() as conn, pytest.raises(ConflictError, match="already reversed by 'invoice:3:void'"):
        SqlLedger().post(conn, tenant_id(conn), second, at=AT)


def test_payments_are_idempotent_by_their_own_key(billed):
    args = dict(key="psp-1", legal_entity="acme-us", on=date(2026, 4, 20), currency="USD", invoice_id=2)
    with billed.begin() as conn:
        first = post_payment(conn, T, amount=D("31.00"), at=AT, **args)
        again = post_payment(conn, T, amount=D("31.00"), at=AT, **args)
    assert (first.new, again.new, again.id) == (True, False, first.id)
    assert lines_of(first) == [("1000", None, D("31.00"), D("0.00")), ("1100", None, D("0.00"), D("31.00"))]
    assert first.entry.entry_key == "payment:psp-1" and "invoice 2" in first.entry.memo
    with billed.begin() as conn, pytest.raises(ConflictError):
        post_payment(conn, T, amount=D("30.00"), at=AT, **args)


def test_the_database_keeps_the_books_append_only(billed):
    issue(billed, 2)
    post(billed, 2)
    for statement in (update(journal_lines).values(memo="edited"), delete(journal_lines),
                      update(journal_entries).values(memo="edited"), delete(journal_entries)):
        with pytest.raises(DBAPIError, match="append-only"):
            with billed.begin() as conn:
                conn.execute(statement)
    assert counts(billed)[:2] == (1, 2)


@pytest.mark.postgres
def test_postgresql_refuses_an_unbalanced_entry_at_commit(pg_url):
    """A raw write that bypasses the ledger still cannot commit an unbalanced entry (SQLite has no deferred
    triggers: there the ledger's own checks are the guard)."""
    engine = open_engine(pg_url)
    with engine.begin() as conn:
        apply_document(conn, tenant_id(conn), load_document(CATALOG))
    with pytest.raises(DBAPIError, match="journal entry .* does not balance: 2 lines, debits 5.00, credits 4.00"):
        with engine.begin() as conn:
            entry_id = conn.execute(insert(journal_entries).values(
                tenant_id=1, legal_entity_id=1, entry_key="raw", date=date(2026, 4, 2), currency="USD",
                source_type="manual", source_id="1", posted_at=AT, content_hash="x").returning(
                journal_entries.c.id)).scalar_one()
            conn.execute(insert(journal_lines), [
                {"tenant_id": 1, "entry_id": entry_id, "account_code": "1100", "debit": D("5.00"), "credit": D("0")},
                {"tenant_id": 1, "entry_id": entry_id, "account_code": "4000", "debit": D("0"), "credit": D("4.00")}])
    with pytest.raises(DBAPIError, match="journal entry .* does not balance: 0 lines"):
        with engine.begin() as conn:
            conn.execute(insert(journal_entries).values(
                tenant_id=1, legal_entity_id=1, entry_key="empty", date=date(2026, 4, 2), currency="USD",
                source_type="manual", source_id="1", posted_at=AT, content_hash="x"))
    assert counts(engine)[:2] == (0, 0)


def test_trial_balance_totals_are_equal(billed):
    with billed.begin() as conn:
        set_up_gl(conn, "acme-jp")
    for invoice_id in (1, 2, 6, 7, 8):
        issue(billed, invoice_id)
        post(billed, invoice_id)
    with billed.begin() as conn:
        post_payment(conn, T, key="psp-9", legal_entity="acme-us", on=date(2026, 4, 30), currency="USD",
                     amount=D("31.00"), at=AT)
    report = trial_balance(billed, T)
    assert report.balanced
    assert [(t["legal_entity"], t["currency"], t["debit"], t["credit"]) for t in report.totals()] == [
        ("acme-jp", "JPY", D("2000"), D("2000")), ("acme-us", "USD", D("109.00"), D("109.00"))]
    balances = {(r.legal_entity, r.account): (r.name, r.balance) for r in report.rows}
    assert balances[("acme-us", "1100")] == ("Receivables", D("35.30"))  # 15.30 + 31 + 20 - 31 paid
    assert balances[("acme-us", "4000")] == ("Revenue", D("-76.30"))
    assert balances[("acme-us", "1000")] == ("Bank", D("31.00"))
    only_jp = trial_balance(billed, T, legal_entity="acme-jp")
    assert {r.legal_entity for r in only_jp.rows} == {"acme-jp"}
    assert trial_balance(billed, T, as_of=date(2026, 4, 29)).totals()[1]["debit"] == D("78.00")
    assert trial_balance(billed, T, as_of=date(2026, 4, 1)).rows == ()
    with billed.connect() as conn, pytest.raises(ValidationError, match="legal entity 'nowhere' does not exist"):
        trial_balance(conn, T, legal_entity="nowhere")


def test_two_transactions_posting_the_same_invoice_at_once_make_one_entry(billed):
    """The second poster starts before the first commits: on PostgreSQL it finds nothing, its insert waits on
    the unique key and then does nothing; on SQLite it waits for the write lock. Either way: one entry."""
    issue(billed, 2)
    results, errors = [], []

    def second():
        try:
            results.append(post(billed, 2)[0])
        except Exception as exc:
            errors.append(exc)

    with billed.begin() as conn:
        [first] = post_invoice(conn, T, 2, at=AT)
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1)  # still waiting for this transaction
        assert thread.is_alive()
    thread.join(timeout=60)
    assert errors == [] and [(p.new, p.id) for p in results] == [(False, first.id)]
    assert counts(billed)[:2] == (1, 2)
    assert isinstance(SqlLedger(), Ledger)
