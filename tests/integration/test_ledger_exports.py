"""The beancount and hledger exports, checked by the real `bean-check` and `hledger check`.

A ledger with two legal entities, EUR, USD, JPY and KWD, an invoice from a real bill run, a credit note, a
void reversal and payments is exported in both formats; each checker must accept it, `hledger bal` and
beancount's own loader must report exactly the built-in trial balance, and an unbalanced transaction
edited into each file must be rejected (so a passing check means something).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import FrozenClock
from invoiceflow.errors import ValidationError
from invoiceflow.ledger import JournalEntry, JournalLine, SqlLedger, post_invoice, trial_balance
from invoiceflow.ledger.exports import AccountInfo, account_name, export_ledger, render_beancount
from invoiceflow.lifecycle import approve_invoice, issue_invoice, submit_invoice, validate_invoice
from invoiceflow.store.review_tables import gl_accounts, gl_mappings
from invoiceflow.store.tables import legal_entities
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

pytestmark = pytest.mark.slow
CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.yaml"
AT = datetime(2026, 4, 2, 9, 30, tzinfo=timezone.utc)
D = Decimal
ACCOUNTS = [("1000", "Bank", "asset"), ("1100", "Receivables", "asset"), ("2200", "Tax payable", "liability"),
            ("2400", "Deferred revenue", "liability"), ("3000", "Share capital", "equity"),
            ("4000", "Revenue", "revenue"), ("4100", "API revenue", "revenue"), ("6100", "Bank fees", "expense")]
JP_NAMES = {"4000": "売上高"}  # a name with no ASCII letters: the account still gets a valid name from its code
MAPPINGS = [("receivable", "", "1100"), ("cash", "", "1000"), ("tax", "", "2200"), ("deferred_revenue", "", "2400"),
            ("revenue", "", "4000"), ("revenue", "api", "4100")]


def _tool(name: str, install: list[str] | None) -> str:
    """The tool's path; installs a Debian package when root can; skips only when it cannot be had (fails in CI)."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found:
        return found
    why = f"{name} is not installed"
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        done = subprocess.run(["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install "
                               "-y -qq -o DPkg::Lock::Timeout=300 " + " ".join(install)],
                              capture_output=True, text=True, timeout=900)
        if shutil.which(name):
            return str(shutil.which(name))
        why += f" and apt-get could not install it: {done.stderr.strip()[-400:]}"
    elif install:
        why += f" and cannot be installed here (needs root and apt-get); `make test` installs it: {install}"
    else:
        why += "; it comes with the dev extra: pip install -e '.[dev]'"
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def hledger() -> str:
    return _tool("hledger", ["hledger"])


@pytest.fixture(scope="session")
def bean_check() -> str:
    return _tool("bean-check", None)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


def _set_up_gl(conn, entity: str) -> None:
    tid = tenant_id(conn)
    eid = conn.execute(select(legal_entities.c.id).where(legal_entities.c.code == entity)).scalar_one()
    names = JP_NAMES if entity == "acme-jp" else {}
    conn.execute(insert(gl_accounts), [{"tenant_id": tid, "legal_entity_id": eid, "code": c,
                                        "name": names.get(c, n), "type": k} for c, n, k in ACCOUNTS])
    conn.execute(insert(gl_mappings), [{"tenant_id": tid, "legal_entity_id": eid, "role": r, "product_code": p,
                                        "account_code": a} for r, p, a in MAPPINGS])


def _entry(key, entity, day, currency, *lines, memo="", source=("", ""), reverses=None) -> JournalEntry:
    return JournalEntry(entry_key=key, legal_entity=entity, date=day, currency=currency, memo=memo,
                        source_type=source[0], source_id=source[1], reverses=reverses,
                        lines=tuple(JournalLine.signed(a, D(v), product=p, memo=m) for a, v, p, m in lines))


@pytest.fixture
def books(sqlite_url):
    """A real bill-run invoice (USD) plus hand-made entries in EUR, KWD (acme-us) and JPY (acme-jp)."""
    engine = open_engine(sqlite_url)
    with engine.begin() as conn:
        apply_document(conn, tenant_id(conn), load_document(CATALOG))
        set_member(conn, tenant_id(conn), "bob", ["approver"], actor="admin", at=AT)
        _set_up_gl(conn, "acme-us")
        _set_up_gl(conn, "acme-jp")
    run_bill_run(engine, as_of=date(2026, 4, 1))
    clock = FrozenClock(AT)
    for step, actor in ((validate_invoice, "alice"), (submit_invoice, "alice"), (approve_invoice, "bob"),
                        (issue_invoice, "carol")):
        step(engine, "default", 2, actor=actor, clock=clock)
    kwd = _entry("invoice:903:issued", "acme-us", date(2026, 4, 3), "KWD", ("1100", "1.500", None, "receivable"),
                 ("4100", "-1.250", "api", "revenue"), ("2200", "-0.250", None, "tax S 20% KW"),
                 memo="invoice 903 issued", source=("invoice", "903"))
    entries = [
        _entry("invoice:901:issued", "acme-us", date(2026, 4, 2), "EUR", ("1100", "121.00", None, "receivable"),
               ("4000", "-100.00", "platform", 'revenue "platform"; April'), ("2200", "-21.00", None, "tax S 21%"),
               memo="invoice 901 issued", source=("invoice", "901")),
        _entry("credit_note:902:issued", "acme-us", date(2026, 4, 5), "EUR", ("4000", "10.00", "platform", ""),
               ("2200", "2.10", None, ""), ("1100", "-12.10", None, "receivable"), memo="credit note 902 issued",
               source=("credit_note", "902")),
        kwd,
        kwd.reversal(entry_key="invoice:903:void", on=date(2026, 4, 4), memo="invoice 903 voided"),
        _entry("payment:psp-7731", "acme-us", date(2026, 4, 20), "EUR", ("1000", "108.40", None, ""),
               ("6100", "0.50", None, "card fee"), ("1100", "-108.90", None, "")),
        _entry("invoice:904:issued", "acme-jp", date(2026, 4, 2), "JPY", ("1100", "1500", None, ""),
               ("4000", "-1364", "platform", ""), ("2200", "-136", None, "")),
        _entry("payment:jp-1", "acme-jp", date(2026, 4, 30), "JPY", ("1000", "1500", None, ""),
               ("1100", "-1500", None, "")),
        _entry("capital:1", "acme-jp", date(2026, 4, 1), "JPY", ("1000", "1000000", None, ""),
               ("3000", "-1000000", None, "")),
    ]
    with engine.begin() as conn:
        assert post_invoice(conn, "default", 2, at=AT)
        for entry in entries:
            SqlLedger().post(conn, tenant_id(conn), entry, at=AT)
    return engine


def _names(engine) -> dict[tuple[str, str], str]:
    with engine.connect() as conn:
        rows = conn.execute(select(legal_entities.c.code, gl_accounts.c.code, gl_accounts.c.name, gl_accounts.c.type)
                            .join(legal_entities, legal_entities.c.id == gl_accounts.c.legal_entity_id)).all()
    return {(e, c): account_name(AccountInfo(e, c, n, t)) for e, c, n, t in rows}


def expected_balances(engine, entity=None) -> dict[tuple[str, str], Decimal]:
    names = _names(engine)
    return {(names[(r.legal_entity, r.account)], r.currency): r.balance
            for r in trial_balance(engine, "default", legal_entity=entity).rows if r.balance}


def _write(tmp_path, engine, fmt, **kwargs) -> Path:
    path = tmp_path / ("books.beancount" if fmt == "beancount" else "books.journal")
    path.write_text(export_ledger(engine, "default", fmt, **kwargs), encoding="utf-8")
    return path


def test_bean_check_accepts_the_export_and_beancount_reads_the_trial_balance(books, tmp_path, bean_check):
    path = _write(tmp_path, books, "beancount")
    text = path.read_text()
    assert "commodity JPY" in text and "commodity KWD" in text and "1.250" in text
    assert '^invoice-903-void ^invoice-903-issued' in text and 'entry_key: "invoice:903:void"' in text
    assert "open Assets:Acme-jp:1100-Receivables JPY" in text and "Income:Acme-jp:4000 " in text
    checked = run(bean_check, str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    from beancount import loader
    from beancount.core import data

    loaded, errors, _ = loader.load_file(str(path))
    assert errors == []
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for txn in (e for e in loaded if isinstance(e, data.Transaction)):
        for posting in txn.postings:
            sums[(posting.account, posting.units.currency)] += posting.units.number
    assert {k: v for k, v in sums.items() if v} == expected_balances(books)


def test_hledger_check_accepts_the_journal_and_its_balances_equal_the_trial_balance(books, tmp_path, hledger):
    path = _write(tmp_path, books, "hledger")
    text = path.read_text()
    assert "commodity 1000. JPY" in text and "commodity 1000.000 KWD" in text and "commodity 1000.00 EUR" in text
    assert "(invoice:903:void)" in text and "type: X" in text and "type: E" in text
    checked = run(hledger, "-f", str(path), "check", "--strict", "ordereddates")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = run(hledger, "-f", str(path), "bal", "-O", "csv", "--layout", "bare", "-N")
    assert report.returncode == 0, report.stderr
    rows = [re.findall(r'"([^"]*)"', line) for line in report.stdout.splitlines()[1:]]
    got = {(account, commodity): Decimal(balance) for account, commodity, balance in rows if Decimal(balance)}
    assert got == expected_balances(books)
    assert {currency for _, currency in got} == {"EUR", "JPY", "USD"}  # KWD was voided: every KWD balance is 0


def test_an_unbalanced_transaction_is_rejected_by_both_checkers(books, tmp_path, bean_check, hledger):
    bean = _write(tmp_path, books, "beancount")
    bean.write_text(bean.read_text().replace("  121.00 EUR", "  121.01 EUR", 1))
    refused = run(bean_check, str(bean))
    assert refused.returncode != 0 and "balance" in (refused.stdout + refused.stderr).lower()
    journal = _write(tmp_path, books, "hledger")
    journal.write_text(journal.read_text().replace("  1.500 KWD", "  1.501 KWD", 1))
    refused = run(hledger, "-f", str(journal), "check")
    assert refused.returncode != 0 and "balance" in refused.stderr.lower()


def test_entity_and_date_range_through_the_cli(books, sqlite_url, tmp_path, bean_check, hledger):
    from invoiceflow.cli import app

    out = tmp_path / "jp.beancount"
    result = CliRunner().invoke(app, ["ledger", "export", "--format", "beancount", "--entity", "acme-jp",
                                      "--out", str(out), "--database", sqlite_url])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "Acme-us" not in text and "JPY" in text and "EUR" not in text
    assert run(bean_check, str(out)).returncode == 0
    april = CliRunner().invoke(app, ["ledger", "export", "--format", "hledger", "--from", "2026-04-03", "--before",
                                     "2026-04-05", "--database", sqlite_url])
    assert april.exit_code == 0, april.output
    codes = re.findall(r"^\d{4}-\d\d-\d\d \* \(([^)]*)\)", april.stdout, re.M)
    assert codes == ["invoice:903:issued", "invoice:903:void"]
    journal = tmp_path / "april.journal"
    journal.write_text(april.stdout)
    assert run(hledger, "-f", str(journal), "check", "--strict").returncode == 0
    bad = CliRunner().invoke(app, ["ledger", "export", "--format", "ledger-cli", "--database", sqlite_url])
    assert bad.exit_code == 2 and "unknown format 'ledger-cli'" in bad.output


def test_an_account_missing_from_the_chart_is_refused_by_name():
    entry = _entry("invoice:1:issued", "acme-us", date(2026, 4, 2), "EUR", ("1100", "1.00", None, ""),
                   ("4999", "-1.00", None, ""))
    accounts = {("acme-us", "1100"): AccountInfo("acme-us", "1100", "Receivables", "asset")}
    with pytest.raises(ValidationError, match="account '4999' is not in the chart of legal entity acme-us"):
        render_beancount([entry], accounts)
