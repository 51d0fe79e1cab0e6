"""A tenant billed from tests/fixtures/governed.yaml, with a team, ready for the release pass."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import yaml
from sqlalchemy import select

from invoiceflow.billing.run import run_bill_run
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import FrozenClock
from invoiceflow.policy.document import default_source
from invoiceflow.store.tables import customers, invoices
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

FIXTURES = Path(__file__).parent.parent / "fixtures"
CATALOG = FIXTURES / "governed.yaml"
T = "default"
CLOCK = FrozenClock(datetime(2026, 9, 2, 9, 0, tzinfo=timezone.utc))
TEAM = {"ada": ["admin"], "fin": ["finance", "approver"], "apr": ["approver"], "rev": ["revops"],
        "tax": ["tax"], "sup": ["support"]}


def catalog(**edit) -> dict:
    """The governed catalog, with `edit(doc)` applied when given (a function changing it in place)."""
    doc = load_document(CATALOG)
    if "change" in edit:
        edit["change"](doc)
    return doc


def apply(engine, doc) -> None:
    with engine.begin() as conn:
        apply_document(conn, tenant_id(conn, T), doc)


def seed(engine, doc=None, *, as_of=date(2026, 9, 1)) -> None:
    apply(engine, doc or catalog())
    with engine.begin() as conn:
        tid = tenant_id(conn, T)
        for name, roles in TEAM.items():
            set_member(conn, tid, name, roles, actor="setup", at=CLOCK.now())
    run_bill_run(engine, as_of=as_of)


def ids_by_customer(engine) -> dict[str, list[int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(customers.c.code, invoices.c.id).join(
            invoices, invoices.c.customer_id == customers.c.id).order_by(invoices.c.id)).all()
    out: dict[str, list[int]] = {}
    for code, invoice_id in rows:
        out.setdefault(code, []).append(invoice_id)
    return out


def status_of(engine, invoice_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(invoices.c.status).where(invoices.c.id == invoice_id)).scalar()


def policy_text(change=None) -> str:
    doc = yaml.safe_load(default_source())
    if change:
        change(doc)
    return yaml.safe_dump(doc, sort_keys=False)
