"""The external tax engine over HTTP (a local stand-in service) and hold-and-release on `tax_pending`.

While the service does not answer, the release pass holds every invoice with `tax_status = pending` and a
`tax.engine_unavailable` finding in one case; nothing is issued. The next pass after it answers again
releases them with the service's tax and closes the case. An answer outside the contract is a clear error.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from governed_seed import CLOCK, T, seed
from invoiceflow.errors import ValidationError
from invoiceflow.review import list_cases
from invoiceflow.store.review_tables import findings, invoice_taxes
from invoiceflow.store.tables import customers, invoices
from invoiceflow.tax.calculate import TaxBreakdown, TaxSubtotal
from invoiceflow.tax.engine import QuoteLine, QuoteRequest, TaxUnavailable
from invoiceflow.tax.model import Buyer, Seller, Supply, TaxDecision, TaxRequirement
from invoiceflow.tax_providers import HttpTaxEngine, configured_engine, release_with_configured_tax
from tax_standin import KEY, TaxStandIn

TAX_ENV = ("INVOICEFLOW_TAX_ENGINE", "INVOICEFLOW_TAX_URL", "INVOICEFLOW_TAX_API_KEY", "INVOICEFLOW_TAX_TIMEOUT")


@pytest.fixture
def service(monkeypatch):
    """The stand-in, configured as the tax engine through the environment (1 s timeout)."""
    standin = TaxStandIn()
    monkeypatch.setenv("INVOICEFLOW_TAX_ENGINE", "http")
    monkeypatch.setenv("INVOICEFLOW_TAX_URL", standin.url)
    monkeypatch.setenv("INVOICEFLOW_TAX_API_KEY", KEY)
    monkeypatch.setenv("INVOICEFLOW_TAX_TIMEOUT", "1")
    yield standin
    standin.close()


def by_customer(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(customers.c.code, invoices).join(customers, customers.c.id == invoices.c.customer_id)
                            ).mappings().all()
        taxes = conn.execute(select(invoice_taxes)).mappings().all()
    return {row["code"]: {**row, "taxes": [t for t in taxes if t["invoice_id"] == row["id"]]} for row in rows}


def test_service_down_holds_every_invoice_then_the_next_pass_releases_them_with_its_tax(engine, service):
    seed(engine)
    service.down()
    report = release_with_configured_tax(engine, T, clock=CLOCK)
    assert report.outcomes == {"held": 4} and report.findings_by_code["tax.engine_unavailable"] == 4
    held = by_customer(engine)
    assert {(i["status"], i["tax_status"], i["number"], i["tax_total"]) for i in held.values()} == {
        ("held", "pending", None, Decimal("0.00"))}
    assert all(i["taxes"] == [] for i in held.values())
    [case] = list_cases(engine, tenant=T, now=CLOCK.now())
    assert (case["root_cause"], case["queue"], case["invoices"]) == ("tax_engine:unavailable", "tax", 4)
    service.up()
    assert release_with_configured_tax(engine, T, clock=CLOCK).outcomes == {"issued": 4}
    released = by_customer(engine)
    assert {(i["status"], i["tax_status"]) for i in released.values()} == {("issued", "calculated")}
    oakland = released["oakland"]  # the service's 7.25 %, where the built-in rules would not tax SaaS
    [row] = oakland["taxes"]
    assert (row["category"], row["rate"], row["jurisdiction"]) == ("S", Decimal("7.25"), "US-CA")
    assert row["tax_amount"] == (row["taxable_amount"] * Decimal("0.0725")).quantize(Decimal("0.01"))
    assert (oakland["tax_total"], oakland["total"]) == (row["tax_amount"], row["taxable_amount"] + row["tax_amount"])
    assert oakland["number"]
    assert list_cases(engine, tenant=T, now=CLOCK.now()) == []
    [closed] = list_cases(engine, tenant=T, status="resolved", now=CLOCK.now())
    assert closed["id"] == case["id"]
    with engine.connect() as conn:
        assert set(conn.execute(select(findings.c.status).where(findings.c.code == "tax.engine_unavailable"))
                   .scalars()) == {"resolved"}
    assert {r["reference"] for r in service.requests} == {f"invoice:{i['id']}" for i in released.values()}


def test_a_malformed_answer_stops_the_release_with_a_clear_error_and_writes_nothing(sqlite_url, service):
    from invoiceflow.bootstrap import open_engine

    engine = open_engine(sqlite_url)
    seed(engine)
    service.mode = "malformed"
    with pytest.raises(ValidationError, match=r"tax service http://127\.0\.0\.1:\d+/v1/quote, answer to quote "
                                              r"invoice:\d+: the answer does not parse: not JSON"):
        release_with_configured_tax(engine, T, clock=CLOCK)
    assert {(i["status"], i["number"], i["tax_status"]) for i in by_customer(engine).values()} == {
        ("draft", None, "none")}


REQUEST = QuoteRequest(Seller("US", "12-3456789", "acme-us"), Buyer("US", "CA", is_business=True),
                       date(2026, 9, 1), "USD",
                       (QuoteLine("7", Decimal("300.00"), Supply("digital_service")),
                        QuoteLine("8", Decimal("12.34"), Supply("digital_service"))), reference="invoice:3")


def test_the_answer_maps_exactly_onto_decisions_and_breakdown(service):
    with HttpTaxEngine(service.url, KEY, timeout=1) as engine:
        quote = engine.quote(REQUEST)
        decision = TaxDecision("S", Decimal("7.25"), "US-CA", "standin.flat_rate", note="flat 7.25 % for US-CA")
        assert (quote.engine, quote.line_ids, quote.decisions) == ("http", ("7", "8"), (decision, decision))
        assert quote.breakdown == TaxBreakdown("USD", (TaxSubtotal(
            "S", Decimal("7.25"), Decimal("312.34"), Decimal("22.64"), Decimal("22.644650"), None, None, 2),),
            Decimal("312.34"), Decimal("22.64"))
        sent = service.requests[-1]
        assert sent["lines"][1] == {"line_id": "8", "net_amount": "12.34", "tax_code": "digital_service",
                                    "kind": "services", "exemption_code": None, "exemption_reason": None}
        blocked = {"line_id": "7", "category": "AE", "rate": "0", "jurisdiction": "FR", "rule": "provider.rc",
                   "requirements": [{"code": "buyer_vat_id_invalid", "field": "buyer.tax_id",
                                     "message": "no VAT id", "blocking": True}]}
        service.canned = {"lines": [blocked, {**blocked, "line_id": "8", "requirements": []}], "breakdown": None}
        quote = engine.quote(REQUEST)
        assert quote.blocked and quote.breakdown is None
        assert quote.decisions[0].requirements == (TaxRequirement("buyer_vat_id_invalid", "buyer.tax_id",
                                                                  "no VAT id", True),)


@pytest.mark.parametrize("mode, message, retry_after", [
    ("down", "cannot reach", None),
    ("timeout", "no answer within 1s", None),
    ("unavailable", "HTTP 503", 30),
    ("throttled", "HTTP 429", 5),
    ("bad_key", "authentication failed (HTTP 401)", None),
])
def test_a_service_that_cannot_answer_is_unavailable(service, mode, message, retry_after):
    key = "wrong" if mode == "bad_key" else KEY
    if mode == "down":
        service.down()
    elif mode != "bad_key":
        service.mode = mode
    with HttpTaxEngine(service.url, key, timeout=1) as engine, pytest.raises(TaxUnavailable) as caught:
        engine.quote(REQUEST)
    assert caught.value.engine == "http" and message in str(caught.value)
    assert caught.value.retry_after_seconds == retry_after


def _answer(change):
    from tax_standin import quote

    from invoiceflow.tax_providers.contract import request_body
    answer = quote(request_body(REQUEST))
    change(answer)
    return answer


@pytest.mark.parametrize("change, field, why", [
    (lambda a: a["lines"][1].update(rate=7.25), "lines[2].rate", 'must be a decimal string such as "7.25"'),
    (lambda a: a["lines"][0].pop("jurisdiction"), "lines[1].jurisdiction", "is missing"),
    (lambda a: a["lines"].pop(), "lines", "line '8' was sent but is not answered"),
    (lambda a: a["lines"][0].update(category="X"), "lines[1].category", "'X' is not one of S, Z, E"),
    (lambda a: a["breakdown"].update(tax_total="22.65"), "breakdown.tax_total", "differs from its subtotals"),
    (lambda a: a["breakdown"]["subtotals"][0].update(tax_amount="22.641"), "breakdown.subtotals[1].tax_amount",
     "has more digits than USD allows"),
    (lambda a: a.pop("breakdown"), "breakdown", "is missing"),
])
def test_an_answer_outside_the_contract_names_the_field(service, change, field, why):
    service.canned = _answer(change)
    with HttpTaxEngine(service.url, KEY, timeout=1) as engine, pytest.raises(ValidationError) as caught:
        engine.quote(REQUEST)
    assert any(p.field == field and why in p.message for p in caught.value.problems), caught.value.problems


def test_the_engine_is_picked_from_the_environment(monkeypatch):
    for name in TAX_ENV:
        monkeypatch.delenv(name, raising=False)
    assert configured_engine().name == "builtin"
    with pytest.raises(ValidationError, match="INVOICEFLOW_TAX_URL: must be the tax service's http"):
        configured_engine({"INVOICEFLOW_TAX_ENGINE": "http"})
    with pytest.raises(ValidationError, match="unknown tax engine 'avalara'"):
        configured_engine({"INVOICEFLOW_TAX_ENGINE": "avalara"})
    engine = configured_engine({"INVOICEFLOW_TAX_ENGINE": "http", "INVOICEFLOW_TAX_URL": "https://tax.example/q",
                                "INVOICEFLOW_TAX_TIMEOUT": "3"})
    assert (engine.name, engine.url, engine.timeout) == ("http", "https://tax.example/q", 3.0)
