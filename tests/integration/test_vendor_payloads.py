"""NetSuite, SAP S/4HANA Cloud, Business Central and Oracle Fusion connectors against local stand-ins that
enforce each vendor's documented request shape (tests/integration/vendor_standins.py).

For every vendor: an entry is posted and read back exactly; a repost (also after a lost answer) makes no
second document; other content under a posted key is refused; each fault maps to Transient or Permanent
with a message naming the vendor, the operation and the cause; and a payload missing a required field or
out of balance is refused by the stand-in, which shows that the stand-in really checks the shape.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Callable

import pytest

from invoiceflow.effects.errors import Permanent, Transient
from invoiceflow.ledger import JournalEntry, JournalLine
from invoiceflow.ledger.connectors.base import ErpConnector
from invoiceflow.ledger.vendors import (BusinessCentralConfig, BusinessCentralConnector, NetSuiteConfig,
                                        NetSuiteConnector, OracleConfig, OracleConnector, SapConfig, SapConnector)
from invoiceflow.ledger.vendors import dynamics_bc, netsuite, oracle_fusion, sap_s4hana
from invoiceflow.ledger.vendors.http import dumps
from vendor_standins import TOKEN, BusinessCentralStandIn, NetSuiteStandIn, OracleStandIn, SapStandIn

D = Decimal
TIMEOUT = 0.5
COMPANY, JOURNAL = "6c1b3d52-0000-4000-8000-000000000001", "7d2c4e63-0000-4000-8000-000000000002"


def entry(key="invoice:42:issued", entity="acme-eu", currency="EUR", amounts=("121.00", "100.00", "21.00")):
    receivable, revenue, tax = (D(a) for a in amounts)
    return JournalEntry(entry_key=key, legal_entity=entity, date=date(2026, 4, 2), currency=currency,
                        memo=f"{key} issued", source_type="invoice", source_id="42", lines=(
                            JournalLine("1100", debit=receivable, memo="receivable"),
                            JournalLine("4000", credit=revenue, product="api", memo="revenue"),
                            JournalLine("2200", credit=tax, memo="tax S 21%")))


EUR = entry()
KWD = entry("invoice:43:issued", "acme-kw", "KWD", ("1.500", "1.250", "0.250"))


@dataclass
class Rig:
    standin: Any
    connector: Any
    config: Any
    build: Callable
    documents: Callable[[], int]
    currencies: tuple[str, ...] = ("EUR", "KWD")


def netsuite_rig() -> Rig:
    standin = NetSuiteStandIn({"1": "EUR", "7": "KWD"})
    config = NetSuiteConfig(standin.base_url, TOKEN, {"acme-eu": "1", "acme-kw": "2"}, {"EUR": "1", "KWD": "7"},
                            {"1100": "58", "4000": "54", "2200": "112"}, timeout=TIMEOUT)
    return Rig(standin, NetSuiteConnector(config), config, netsuite.build, lambda: len(standin.records))


def sap_rig() -> Rig:
    standin = SapStandIn()
    config = SapConfig(standin.base_url, TOKEN, {"acme-eu": "1010", "acme-kw": "2010"},
                       {"1100": "0012100000", "4000": "0041000000", "2200": "0022000000"}, timeout=TIMEOUT)
    return Rig(standin, SapConnector(config), config, sap_s4hana.build, lambda: standin.documents)


def business_central_rig() -> Rig:
    standin = BusinessCentralStandIn({(COMPANY, JOURNAL): "EUR"})
    config = BusinessCentralConfig(standin.base_url, TOKEN, {"acme-eu": COMPANY}, {"acme-eu": JOURNAL},
                                   {"acme-eu": "EUR"}, {"1100": "10400", "4000": "40100"}, timeout=TIMEOUT)
    return Rig(standin, BusinessCentralConnector(config), config, dynamics_bc.build,
               lambda: len({line["documentNumber"] for line in standin.lines}), ("EUR",))


def oracle_rig() -> Rig:
    standin = OracleStandIn()
    config = OracleConfig(standin.base_url, TOKEN, {"acme-eu": "300000046975971", "acme-kw": "300000046975972"},
                          "300000046987012", accounts={"1100": ("101", "1100", "000"), "4000": ("101", "4000", "000")},
                          timeout=TIMEOUT)
    return Rig(standin, OracleConnector(config), config, oracle_fusion.build, lambda: len(standin.batches))


RIGS = {"netsuite": netsuite_rig, "sap": sap_rig, "business_central": business_central_rig, "oracle": oracle_rig}


@pytest.fixture(params=sorted(RIGS))
def rig(request):
    made = RIGS[request.param]()
    yield made
    made.standin.close()


def entries_for(rig: Rig) -> list[JournalEntry]:
    return [e for e in (EUR, KWD) if e.currency in rig.currencies]


def test_each_connector_keeps_the_erp_connector_contract(rig):
    assert isinstance(rig.connector, ErpConnector)


def test_post_then_read_back_exactly(rig):
    for sent in entries_for(rig):
        ref = rig.connector.post(sent)
        assert (ref.system, ref.entry_key) == (rig.connector.name, sent.entry_key)
        found = rig.connector.lookup(sent.entry_key)
        assert found is not None and found.entry_key == sent.entry_key
        held = rig.connector.read(found)
        assert held.differences(sent) == [] and held.total == sent.total and held.currency == sent.currency
        assert rig.connector.read(ref).differences(sent) == []
    assert rig.documents() == len(entries_for(rig))
    assert rig.connector.lookup("invoice:999:issued") is None


def test_repost_is_idempotent_even_after_a_lost_answer(rig):
    first = rig.connector.post(EUR)
    again = rig.connector.post(EUR)
    assert again.entry_key == EUR.entry_key and rig.documents() == 1
    if rig.connector.name != "oracle_fusion":  # Oracle answers an ESS request id; the batch id comes later
        assert again.id == first.id
    other = entry("invoice:44:issued")
    rig.standin.fail_next("lost", method="POST")  # the write is done, but its answer never arrives
    with pytest.raises(Transient):
        rig.connector.post(other)
    assert rig.documents() == 2
    assert rig.connector.post(other).entry_key == other.entry_key  # the retry finds it instead of posting again
    assert rig.documents() == 2


def test_other_content_under_a_posted_key_is_refused(rig):
    rig.connector.post(EUR)
    changed = entry(amounts=("121.00", "101.00", "20.00"))
    with pytest.raises(Permanent, match="already carries 'invoice:42:issued' with different content"):
        rig.connector.post(changed)
    assert rig.documents() == 1


FAULTS = [("timeout", Transient, "no answer within 0.5s"), ("500", Transient, "HTTP 500"),
          ("429", Transient, "HTTP 429"), ("401", Permanent, "authentication failed"),
          ("malformed", Permanent, "not valid (JSON|XML)|unexpected answer HTTP 200")]


@pytest.mark.parametrize("fault,kind,cause", FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize("on_write", [False, True], ids=["on-lookup", "on-write"])
def test_each_fault_maps_to_transient_or_permanent(rig, fault, kind, cause, on_write):
    rig.standin.fail_next(fault, method="POST" if on_write else None)
    with pytest.raises(kind) as raised:
        rig.connector.post(EUR)
    message = str(raised.value)
    vendor = {"netsuite": "NetSuite", "sap_s4hana": "SAP S/4HANA Cloud", "dynamics_bc": "Business Central",
              "oracle_fusion": "Oracle Fusion"}[rig.connector.name]
    assert message.startswith(f"{vendor}: ") and "invoice:42:issued" in message
    assert re.search(cause, message), message
    if fault == "429":
        assert raised.value.retry_after == 7
    assert rig.documents() == 0
    assert rig.connector.post(EUR).entry_key == EUR.entry_key and rig.documents() == 1  # the retry works


def _csv_in_zip(body: dict, edit: Callable[[str], str]) -> dict:
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(body["DocumentContent"]))) as zipped:
        text = zipped.read("GlInterface.csv").decode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zipped:
        zipped.writestr("GlInterface.csv", edit(text))
    return {**body, "DocumentContent": base64.b64encode(out.getvalue()).decode()}


BROKEN = {  # vendor -> (what is broken, how, what the stand-in must say)
    "netsuite": [("missing subsidiary", lambda b: {k: v for k, v in b.items() if k != "subsidiary"}, "Subsidiary"),
                 ("unbalanced", lambda b: {**b, "line": {"items": [{**b["line"]["items"][0], "debit": D("121.01")},
                                                                   *b["line"]["items"][1:]]}}, "total debits")],
    "sap_s4hana": [("missing PostingDate", lambda b: re.sub(r"<PostingDate>.*?</PostingDate>", "", b), "PostingDate"),
                   ("unbalanced", lambda b: b.replace(">121.00<", ">121.01<"), "not zero")],
    "dynamics_bc": [("missing accountNumber", lambda b: {"requests": [
                        {**r, "body": {k: v for k, v in r["body"].items() if k != "accountNumber"}}
                        for r in b["requests"]]}, "accountNumber"),
                    ("unbalanced", lambda b: {"requests": [
                        {**r, "body": {**r["body"], "amount": r["body"]["amount"] + D("0.01")}} if r["id"] == "1"
                        else r for r in b["requests"]]}, "not 0")],
    "oracle_fusion": [("missing JobName", lambda b: {k: v for k, v in b.items() if k != "JobName"}, "JobName"),
                      ("unbalanced", lambda b: _csv_in_zip(b, lambda t: t.replace(",121.00,", ",121.01,", 1)),
                       "differ by")],
}


def test_the_stand_in_refuses_a_payload_missing_a_field_or_out_of_balance(rig):
    method, path, body, headers = rig.build(EUR, rig.config)
    for what, breaks, says in BROKEN[rig.connector.name]:
        broken = breaks(body)
        data = broken.encode() if isinstance(broken, str) else dumps(broken)
        if rig.connector.name == "sap_s4hana" and what.startswith("missing"):  # a schema error: SOAP Client fault
            answer = rig.connector.http.send("post", method, path, data, headers, allow=(500,))
            assert answer.status == 500 and b"Client" in answer.body and says.encode() in answer.body, what
            continue
        try:
            answer = rig.connector.http.send("post", method, path, data, headers)
        except Permanent as exc:
            assert "HTTP 400" in str(exc) and says in str(exc), (what, str(exc))
        else:  # SAP answers business errors with HTTP 200 and a log of severity 3
            assert rig.connector.name == "sap_s4hana" and b"<MaximumSeverityCode>3" in answer.body, what
            assert says.encode() in answer.body, what
    assert rig.documents() == 0
    rig.connector.http.send("post", method, path, body.encode() if isinstance(body, str) else dumps(body), headers)
    assert rig.documents() == 1  # the unbroken payload is accepted


def test_builders_are_pure_and_send_exact_amounts():
    ns = NetSuiteConfig("http://x", TOKEN, {"acme-kw": "2"}, {"KWD": "7"})
    assert netsuite.build(KWD, ns) == netsuite.build(KWD, ns)
    body = dumps(netsuite.build(KWD, ns)[2]).decode()
    assert '"debit":1.500' in body and '"credit":1.250' in body and '"externalId":"invoice_3A43_3Aissued"' in body
    assert json.loads(body, parse_float=Decimal)["line"]["items"][2]["credit"] == D("0.250")
    sap = sap_s4hana.build(KWD, SapConfig("http://x", TOKEN, {"acme-kw": "2010"}))[2]
    assert '<AmountInTransactionCurrency currencyCode="KWD">-1.250</AmountInTransactionCurrency>' in sap
    assert f"<DocumentReferenceID>{sap_s4hana.reference(KWD.entry_key)}<" in sap
    assert len(sap_s4hana.reference(KWD.entry_key)) == 16
    oracle = OracleConfig("http://x", TOKEN, {"acme-kw": "1"}, "2")
    assert oracle_fusion.build(KWD, oracle) == oracle_fusion.build(KWD, oracle)  # the zip too, byte for byte
    rows = oracle_fusion.gl_interface_rows(KWD, oracle, date(2026, 4, 2))
    assert [r[oracle_fusion.COLUMNS.index("ENTERED_CR")] for r in rows] == ["", "1.250", "0.250"]
    assert rows[0][:3] == ["NEW", "1", "2026/04/02"]


def test_configuration_gaps_are_permanent_and_named():
    config = NetSuiteConfig("http://127.0.0.1:9", TOKEN, {"acme-eu": "1"}, {"EUR": "1"})
    with pytest.raises(Permanent, match=r"NetSuite: build: no subsidiary is configured for 'acme-kw'"):
        netsuite.build(KWD, config)
    bc = BusinessCentralConfig("http://127.0.0.1:9", TOKEN, {"acme-kw": COMPANY}, {"acme-kw": JOURNAL},
                               {"acme-kw": "KWD"})
    with pytest.raises(Permanent, match=r"in EUR, but journal lines of API v2.0 have no currency field"):
        dynamics_bc.build(entry(entity="acme-kw"), bc)
    with pytest.raises(Transient, match=r"NetSuite: lookup invoice:43:issued: cannot reach"):
        NetSuiteConnector(NetSuiteConfig("http://127.0.0.1:9", TOKEN, {"acme-kw": "2"}, {"KWD": "7"},
                                         timeout=TIMEOUT)).post(KWD)
