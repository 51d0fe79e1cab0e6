"""The Tryton connector against a real trytond server (see tryton_server.py for how it is set up).

Every test posts under its own entry key, so the tests share one server and one database yet stay
independent; all of them run on one xdist worker, which starts the server once.
"""

from __future__ import annotations

import socket
import uuid
from datetime import date
from decimal import Decimal

import httpx
import pytest
from tryton_server import ADMIN, COMPANY, DATABASE, JOURNAL, PASSWORD, TrytonServer, free_port

from invoiceflow.effects.errors import Permanent, Transient
from invoiceflow.ledger import JournalEntry, JournalLine
from invoiceflow.ledger.connectors import ErpConnector, TrytonConnector

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tryton")]
D = Decimal
ON = date(2026, 4, 2)


@pytest.fixture(scope="session")
def tryton(tmp_path_factory):
    server = TrytonServer(tmp_path_factory.mktemp("tryton"))
    server.build()
    server.start()
    yield server
    server.remove()


def connector(server: TrytonServer, **overrides) -> TrytonConnector:
    settings = dict(url=server.url, database=DATABASE, user=ADMIN, password=PASSWORD, company=COMPANY,
                    journal=JOURNAL, party_for=lambda entry: f"CUST-{entry.source_id or 'ANON'}", timeout=30.0)
    settings.update(overrides)
    return TrytonConnector(**settings)


@pytest.fixture
def erp(tryton):
    with connector(tryton) as erp:
        yield erp


def key(label: str = "invoice") -> str:
    return f"{label}:{uuid.uuid4().hex[:12]}:issued"


def worked_example(entry_key: str) -> JournalEntry:
    """Invoice 42 of docs/ledger.md: revenue per product, deferred revenue, prepaid credit, a discount, tax."""
    lines = (JournalLine("1100", debit=D("170.53"), memo="receivable"),
             JournalLine("4000", credit=D("100.00"), product="platform", memo="revenue"),
             JournalLine("4100", credit=D("25.00"), product="api", memo="revenue"),
             JournalLine("2400", credit=D("60.00"), product="onboarding", memo="deferred revenue"),
             JournalLine("4000", debit=D("10.00"), memo="revenue"),
             JournalLine("2400", debit=D("20.00"), memo="prepaid credit applied"),
             JournalLine("2200", credit=D("15.53"), memo="tax S 8.875% US-NY"))
    return JournalEntry(entry_key=entry_key, legal_entity="acme-us", date=ON, currency="USD", lines=lines,
                        source_type="invoice", source_id="42", memo="invoice INV-42 issued")


def simple(entry_key: str, *, revenue: str = "4000", amount: str = "100.00", on: date = ON,
           currency: str = "USD") -> JournalEntry:
    return JournalEntry(entry_key=entry_key, legal_entity="acme-us", date=on, currency=currency,
                        lines=(JournalLine("1100", debit=D(amount)), JournalLine(revenue, credit=D(amount))),
                        source_type="invoice", source_id="7")


def test_posts_a_balanced_entry_as_a_posted_move_with_our_reference(tryton, erp):
    entry = worked_example(key())
    ref = erp.post(entry)
    assert isinstance(erp, ErpConnector)
    assert ref.system == "tryton" and ref.entry_key == entry.entry_key and ref.number
    held = erp.read(ref)
    assert held.state == "posted" and held.date == ON and held.currency == "USD"
    assert held.by_account() == {"1100": (D("170.53"), D("0")), "4000": (D("10.00"), D("100.00")),
                                 "4100": (D("0"), D("25.00")), "2400": (D("20.00"), D("60.00")),
                                 "2200": (D("0"), D("15.53"))}
    assert held.total == entry.total == D("200.53")
    assert held.differences(entry) == []
    assert {line.party for line in held.lines if line.account == "1100"} == {"CUST-42"}
    assert {line.party for line in held.lines if line.account != "1100"} == {None}
    assert tryton.count_moves(entry.entry_key) == 1


def test_posting_again_returns_the_same_reference_and_makes_no_second_move(tryton, erp):
    entry = simple(key())
    first = erp.post(entry)
    with connector(tryton) as other:  # a fresh connector, as after a restart of the effects runner
        assert other.post(entry) == first
    assert erp.post(entry) == first
    assert erp.lookup(entry.entry_key) == first
    assert tryton.count_moves(entry.entry_key) == 1


def test_a_move_tryton_derives_from_ours_is_not_taken_for_ours(tryton, erp):
    entry = simple(key())
    ref = erp.post(entry)
    tryton.derive_move(int(ref.id))  # keeps our description, points its origin at our move
    assert tryton.count_moves(entry.entry_key) == 2
    assert erp.lookup(entry.entry_key) == ref
    assert erp.post(entry) == ref


def test_lookup_of_a_key_tryton_has_never_seen_is_none(erp):
    assert erp.lookup(key()) is None


def test_the_same_key_with_other_amounts_is_refused_and_nothing_changes(tryton, erp):
    entry = simple(key())
    ref = erp.post(entry)
    conflict = r"different content \(account 1100: Dr 100.00 Cr 0.00 held, Dr 90.00 Cr 0.00 sent;"
    with pytest.raises(Permanent, match=conflict):
        erp.post(simple(entry.entry_key, amount="90.00"))
    assert erp.read(ref).differences(entry) == []
    assert tryton.count_moves(entry.entry_key) == 1


class _LoseAnswer(httpx.BaseTransport):
    """Delivers the request to the real server, then drops its answer: the request was applied, and the
    caller sees a timeout. What a connection dropped mid-answer does to the effects runner."""

    def __init__(self, method: str):
        self.method, self.inner = method, httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if f'"method": "{self.method}"' in request.content.decode():
            response.close()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


@pytest.mark.parametrize("lost", ["model.account.move.create", "model.account.move.post"])
def test_a_lost_answer_is_reconciled_before_the_retry_and_never_doubles(tryton, erp, lost):
    entry = simple(key())
    with connector(tryton, transport=_LoseAnswer(lost)) as flaky:
        with pytest.raises(Transient, match=rf"tryton: post {entry.entry_key}: {lost} got no answer"):
            flaky.post(entry)
    assert tryton.count_moves(entry.entry_key) == 1  # Tryton did apply it
    ref = erp.post(entry)  # the retry looks up first: finds the move (and posts it if it stayed in draft)
    assert erp.read(ref).state == "posted" and ref.number
    assert erp.post(entry) == ref
    assert tryton.count_moves(entry.entry_key) == 1


def test_a_server_that_never_answers_times_out_as_transient():
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with TrytonConnector(url, DATABASE, ADMIN, password=PASSWORD, company=COMPANY, journal=JOURNAL,
                             timeout=0.5) as erp:
            with pytest.raises(Transient, match=r"no answer within 0.5s"):
                erp.lookup(key())


def test_wrong_password_is_permanent_and_says_so(tryton):
    with connector(tryton, password="not-the-password") as erp:
        with pytest.raises(Permanent, match=rf"tryton: post .*: wrong user or password: 'admin' cannot log in to "
                                            rf"database '{DATABASE}'"):
            erp.post(simple(key()))


def test_wrong_url_is_transient(tryton):
    with connector(tryton, url=f"http://127.0.0.1:{free_port()}") as erp:
        with pytest.raises(Transient, match=r"tryton: post .*: cannot reach http://127.0.0.1:\d+: ConnectError"):
            erp.post(simple(key()))


def test_unknown_account_code_is_permanent_names_the_code_and_writes_nothing(tryton, erp):
    entry = simple(key(), revenue="4999")
    with pytest.raises(Permanent, match=rf"unknown account code 4999: not in the chart of company '{COMPANY}'"):
        erp.post(entry)
    assert tryton.count_moves(entry.entry_key) == 0


def test_receivable_without_a_customer_is_permanent(tryton):
    with connector(tryton, party_for=None) as erp:
        with pytest.raises(Permanent, match=r"account 1100 requires a party"):
            erp.post(simple(key()))
    with connector(tryton, party_for=None, default_party="WALK-IN") as erp:
        ref = erp.post(simple(key()))
        assert {line.party for line in erp.read(ref).lines if line.account == "1100"} == {"WALK-IN"}


def test_configuration_tryton_does_not_have_is_permanent(tryton):
    with connector(tryton, company="No Such Company") as erp:
        with pytest.raises(Permanent, match=r"company 'No Such Company' not found"):
            erp.post(simple(key()))
    with connector(tryton, journal="NOPE") as erp:
        with pytest.raises(Permanent, match=r"journal 'NOPE' not found"):
            erp.post(simple(key()))
    with connector(tryton, database="no_such_db") as erp:
        with pytest.raises(Permanent, match=r"no Tryton database 'no_such_db' at http://127.0.0.1:\d+ \(HTTP 404\)"):
            erp.post(simple(key()))


def test_an_expired_session_logs_in_again_with_the_password_or_is_permanent_without(tryton):
    with connector(tryton, session=(1, "expired-session-key")) as erp:
        assert erp.post(simple(key())).number
    with connector(tryton, password=None, session=(1, "expired-session-key")) as erp:
        with pytest.raises(Permanent, match=r"the session of user 'admin' on database .* was refused"):
            erp.post(simple(key()))


def test_entries_tryton_cannot_hold_are_permanent(tryton, erp):
    with pytest.raises(Permanent, match=r"no accounting period .* contains 2031-01-05"):
        erp.post(simple(key(), on=date(2031, 1, 5)))
    with pytest.raises(Permanent, match=r"the entry is in EUR but company .* keeps its books in USD"):
        erp.post(simple(key(), currency="EUR"))


def test_an_answer_that_does_not_parse_is_permanent():
    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with TrytonConnector("http://tryton.invalid", DATABASE, ADMIN, password=PASSWORD, company=COMPANY,
                         journal=JOURNAL, transport=httpx.MockTransport(garbage)) as erp:
        with pytest.raises(Permanent, match=r"the answer to common.db.login is not JSON-RPC: '<html>"):
            erp.lookup(key())

