"""ERP posting through the outbox against a fault-injecting ERP stand-in (tests/integration/erp_standin.py).

Every test reads the ERP back: each invoice's entry key must be carried by exactly one document holding
exactly the entry the built-in posting rules make, and an invoice is `posted` only once the ERP confirmed.
The inline runner runs on SQLite and PostgreSQL; the worker tests start real `invoiceflow worker`
subprocesses (the inline loop on SQLite, procrastinate on PostgreSQL) and SIGKILL one mid-request.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from erp_standin import TOKEN, ErpStandIn
from governed_seed import CLOCK, T, catalog, seed
from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import FrozenClock, SystemClock
from invoiceflow.effects import InlineRunner, get_effect, list_attempts, replay_effect, sweep
from invoiceflow.effects.jobs import install_procrastinate
from invoiceflow.errors import ValidationError
from invoiceflow.ledger import SqlLedger, trial_balance
from invoiceflow.ledger.connectors.http_json import HttpJsonConnector
from invoiceflow.ledger.erp_config import build_connector, erp_retry_policy, load_target
from invoiceflow.ledger.erp_posting import enqueue_posting, erp_handlers
from invoiceflow.ledger.load import load_chart, load_document
from invoiceflow.ledger.posting_rules import issued_entry
from invoiceflow.review import release
from invoiceflow.store.review_tables import gl_mappings
from invoiceflow.store.tables import invoices, legal_entities
from invoiceflow.store.tenancy import tenant_id

APP = "import typer; from invoiceflow.commands.effects import register; app = typer.Typer(); register(app); app()"
WORKER = [sys.executable, "-c", APP, "worker", "--handlers", "invoiceflow.ledger.erp_posting"]
ERP_ENV = ("INVOICEFLOW_ERP_CONFIG", "INVOICEFLOW_ERP_TARGET", "INVOICEFLOW_ERP_URL", "INVOICEFLOW_ERP_TOKEN",
           "INVOICEFLOW_ERP_TIMEOUT", "INVOICEFLOW_ERP_RETRY")


@pytest.fixture
def erp(monkeypatch):
    """The stand-in, configured as the tenant's ERP target through the environment (1 s client timeout)."""
    for name in ERP_ENV:
        monkeypatch.delenv(name, raising=False)
    standin = ErpStandIn()
    monkeypatch.setenv("INVOICEFLOW_ERP_TARGET", "http")
    monkeypatch.setenv("INVOICEFLOW_ERP_URL", standin.url)
    monkeypatch.setenv("INVOICEFLOW_ERP_TOKEN", TOKEN)
    monkeypatch.setenv("INVOICEFLOW_ERP_TIMEOUT", "1")
    yield standin
    standin.close()


def issue_and_enqueue(engine, *, at=None, doc=None, limit=None) -> tuple[int, list[int], list[int]]:
    """Seed the governed tenant, bill and release it (every invoice issued, which enqueues each posting),
    and return the tenant id, the issued invoices and the posting effects of the first `limit` (all when None).
    Enqueueing again returns the effect the issue recorded."""
    seed(engine, doc)
    assert set(release(engine, T, clock=CLOCK).outcomes) == {"issued"}
    with engine.begin() as conn:
        tid = tenant_id(conn, T)
        ids = list(conn.execute(select(invoices.c.id).where(invoices.c.status == "issued")
                                .order_by(invoices.c.id)).scalars())
        effects = [enqueue_posting(conn, tid, i, at=at or CLOCK.now()).id for i in ids[:limit]]
    return tid, ids, effects


def run(engine, clock):
    return InlineRunner(worker="test", rng=random.Random(7)).run_until_idle(engine, clock=clock,
                                                                           handlers=erp_handlers())


def effect(engine, tid, effect_id):
    with engine.connect() as conn:
        return get_effect(conn, tid, effect_id)


def outcomes(engine, tid, effect_id):
    with engine.connect() as conn:
        return [a.outcome for a in list_attempts(conn, tid, effect_id)]


def statuses(engine, ids) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(invoices.c.status).where(invoices.c.id.in_(ids))).scalars())


def replay_all(engine, tid, effect_ids, clock, *, force=False):
    with engine.begin() as conn:
        for effect_id in effect_ids:
            replay_effect(conn, tid, effect_id, at=clock.now(), actor="ops", force=force)


def assert_erp_holds_each_once(engine, erp, tid, ids):
    """Exactly one ERP document per invoice, holding exactly the entry the posting rules make."""
    connector = HttpJsonConnector(erp.url, token=TOKEN, timeout=5)
    with engine.connect() as conn:
        for invoice_id in ids:
            stored = load_document(conn, tid, invoice_id)
            entry = issued_entry(stored.document, load_chart(conn, tid, stored.legal_entity_id,
                                                              stored.document.legal_entity))
            assert erp.references()[entry.entry_key] == 1, (entry.entry_key, erp.references())
            assert connector.read(connector.lookup(entry.entry_key)).differences(entry) == []
    assert sum(erp.references().values()) == len(ids)
    connector.close()


def test_erp_down_for_a_whole_bill_run_queues_every_posting_then_drains_exactly_once(engine, erp):
    erp.down()
    tid, ids, effect_ids = issue_and_enqueue(engine)
    clock = FrozenClock(CLOCK.now())
    for attempt in (1, 2, 3):
        report = run(engine, clock)
        assert (report.retried, report.succeeded, report.dead) == (len(ids), 0, 0)
        for effect_id in effect_ids:
            queued = effect(engine, tid, effect_id)
            assert (queued.status, queued.attempts) == ("pending", attempt)
            assert queued.next_attempt_at >= clock.now() and "cannot reach" in queued.last_error
        assert statuses(engine, ids) == {"issued"}  # nothing is posted before the ERP confirms
        clock.advance(timedelta(minutes=2))  # past the backoff: at most 30 s, 60 s, then 120 s
    erp.up()
    clock.advance(timedelta(hours=1))
    assert run(engine, clock).succeeded == len(ids)
    assert statuses(engine, ids) == {"posted"}
    assert_erp_holds_each_once(engine, erp, tid, ids)
    done = effect(engine, tid, effect_ids[0])
    assert done.result["invoice_status"] == "posted" and done.result["refs"][0]["system"] == "http"
    assert outcomes(engine, tid, effect_ids[0]) == ["transient"] * 3 + ["succeeded"]
    clock.advance(timedelta(hours=1))
    assert run(engine, clock).succeeded == 0 and sum(erp.references().values()) == len(ids)


def test_lost_failed_and_duplicated_acknowledgements_leave_one_document_each(sqlite_url, erp):
    engine = open_engine(sqlite_url)
    tid, ids, effect_ids = issue_and_enqueue(engine)
    erp.fail_next("lost", on="POST", delay=2.0)  # 1st post: created, the answer comes after the timeout
    erp.fail_next("ack_failed", on="POST")  # 2nd: created, answered as a failure
    erp.fail_next("stale_ack", on="POST")  # 3rd: answered with the 1st post's acknowledgement, not done
    erp.fail_next("slow", on="POST", delay=0.3)  # 4th: slow but in time
    clock = FrozenClock(CLOCK.now())
    report = run(engine, clock)
    assert (report.succeeded, report.retried) == (1, 3)
    assert [effect(engine, tid, e).status for e in effect_ids] == ["pending", "pending", "pending", "succeeded"]
    assert "no answer within 1s" in effect(engine, tid, effect_ids[0]).last_error
    assert "acknowledged 'invoice:" in effect(engine, tid, effect_ids[2]).last_error
    assert sorted(erp.references().values()) == [1, 1, 1]  # two were made although their posts "failed"
    clock.advance(timedelta(hours=1))
    assert run(engine, clock).succeeded == 3  # the retries' lookups find the first two
    assert statuses(engine, ids) == {"posted"}
    assert_erp_holds_each_once(engine, erp, tid, ids)
    # The same posting delivered again after it was acknowledged: found, not doubled.
    replay_all(engine, tid, effect_ids[:1], clock, force=True)
    assert run(engine, clock).succeeded == 1
    assert_erp_holds_each_once(engine, erp, tid, ids)


def test_a_changed_schema_is_dead_lettered_then_replayed_once_fixed(sqlite_url, erp):
    engine = open_engine(sqlite_url)
    tid, ids, effect_ids = issue_and_enqueue(engine)
    erp.set_mode("schema")
    clock = FrozenClock(CLOCK.now())
    assert run(engine, clock).dead == len(ids)
    dead = effect(engine, tid, effect_ids[0])
    assert dead.status == "dead" and dead.last_error.endswith("[permanent failure]")
    assert "answer does not parse: missing field 'id'" in dead.last_error and f"invoice {ids[0]}" in dead.last_error
    assert statuses(engine, ids) == {"issued"}
    erp.set_mode("ok")  # the mapping is fixed (here: the ERP speaks the protocol again)
    replay_all(engine, tid, effect_ids, clock)
    assert run(engine, clock).succeeded == len(ids)
    assert statuses(engine, ids) == {"posted"}
    assert_erp_holds_each_once(engine, erp, tid, ids)  # the documents the failed attempts made are reused


def test_wrong_credentials_dead_letter_a_wrong_url_retries_a_malformed_answer_dead_letters(sqlite_url, erp,
                                                                                           monkeypatch):
    engine = open_engine(sqlite_url)
    tid, ids, effect_ids = issue_and_enqueue(engine)
    clock = FrozenClock(CLOCK.now())
    monkeypatch.setenv("INVOICEFLOW_ERP_TOKEN", "expired-token")
    assert run(engine, clock).dead == len(ids)
    assert "authentication failed (HTTP 401)" in effect(engine, tid, effect_ids[0]).last_error
    monkeypatch.setenv("INVOICEFLOW_ERP_TOKEN", TOKEN)
    with socket.socket() as closed:  # a port where nothing listens
        closed.bind(("127.0.0.1", 0))
        wrong = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("INVOICEFLOW_ERP_URL", wrong)
    replay_all(engine, tid, effect_ids, clock)
    assert run(engine, clock).retried == len(ids)
    waiting = effect(engine, tid, effect_ids[0])
    assert waiting.status == "pending" and f"cannot reach {wrong}" in waiting.last_error
    monkeypatch.setenv("INVOICEFLOW_ERP_URL", erp.url)
    erp.fail_next("malformed", on="GET")
    clock.advance(timedelta(hours=1))
    report = run(engine, clock)
    assert (report.dead, report.succeeded) == (1, len(ids) - 1)
    [broken] = [e for e in effect_ids if effect(engine, tid, e).status == "dead"]
    assert "answer does not parse: not JSON" in effect(engine, tid, broken).last_error
    assert statuses(engine, ids) == {"issued", "posted"}
    monkeypatch.delenv("INVOICEFLOW_ERP_URL")  # a configuration gap is named, and dead-letters
    replay_all(engine, tid, [broken], clock)
    assert run(engine, clock).dead == 1
    assert "url: is required for target http" in effect(engine, tid, broken).last_error
    monkeypatch.setenv("INVOICEFLOW_ERP_URL", erp.url)
    replay_all(engine, tid, [broken], clock)
    assert run(engine, clock).succeeded == 1
    assert statuses(engine, ids) == {"posted"}
    assert_erp_holds_each_once(engine, erp, tid, ids)


def test_a_broken_gl_mapping_dead_letters_with_entity_role_and_account_named(sqlite_url, erp):
    engine = open_engine(sqlite_url)
    tid, ids, effect_ids = issue_and_enqueue(engine)
    eu = select(legal_entities.c.id).where(legal_entities.c.code == "acme-eu").scalar_subquery()
    us = select(legal_entities.c.id).where(legal_entities.c.code == "acme-us").scalar_subquery()
    revenue = (gl_mappings.c.role == "revenue") & (gl_mappings.c.product_code == "")
    eu_revenue = revenue & (gl_mappings.c.legal_entity_id == eu)
    us_revenue = revenue & (gl_mappings.c.legal_entity_id == us)
    with engine.begin() as conn:
        conn.execute(update(gl_mappings).where(eu_revenue).values(account_code="4999"))  # not in the chart
        conn.execute(delete(gl_mappings).where(us_revenue))
    clock = FrozenClock(CLOCK.now())
    assert run(engine, clock).dead == len(ids)
    errors = {effect(engine, tid, e).last_error for e in effect_ids}
    assert any("legal entity acme-eu: role 'revenue' for product 'platform' is mapped to account '4999', which is "
               "not in the entity's chart of accounts; fix the GL mapping, then replay the effect" in e for e in errors)
    assert any("legal entity acme-us: no GL account is mapped for role 'revenue' and product 'platform'" in e
               for e in errors)
    assert statuses(engine, ids) == {"issued"} and erp.references() == {}
    with engine.begin() as conn:
        conn.execute(update(gl_mappings).where(eu_revenue).values(account_code="4000"))
        conn.execute(gl_mappings.insert().values(tenant_id=tid, legal_entity_id=us, role="revenue", product_code="",
                                                 account_code="4000"))
    replay_all(engine, tid, effect_ids, clock)
    assert run(engine, clock).succeeded == len(ids)
    assert_erp_holds_each_once(engine, erp, tid, ids)


def test_the_builtin_target_posts_to_the_built_in_ledger(sqlite_url, monkeypatch):
    for name in ERP_ENV:
        monkeypatch.delenv(name, raising=False)
    engine = open_engine(sqlite_url)
    tid, ids, effect_ids = issue_and_enqueue(engine)
    assert {effect(engine, tid, e).target for e in effect_ids} == {"builtin"}
    assert run(engine, FrozenClock(CLOCK.now())).succeeded == len(ids)
    assert statuses(engine, ids) == {"posted"}
    with engine.connect() as conn:
        posted = SqlLedger().entries(conn, tid, source_type="invoice")
        assert sorted(int(p.entry.source_id) for p in posted) == ids
        assert trial_balance(conn, T).balanced
    assert effect(engine, tid, effect_ids[0]).result["refs"][0]["system"] == "builtin"


def test_erp_targets_come_from_a_file_with_secrets_from_the_environment(tmp_path):
    config = tmp_path / "erp.toml"
    config.write_text("""
[default]
target = "builtin"

[tenants.acme]
target = "netsuite"
base_url = "https://123456.suitetalk.api.netsuite.com"
authorization_env = "ACME_NETSUITE_AUTH"
subsidiaries = { acme-us = "1" }
currencies = { USD = "2" }

[tenants.globex]
target = "tryton"
url = "https://erp.globex.example"
database = "globex"
password_env = "GLOBEX_TRYTON_PASSWORD"
company = "Globex"
journal = "REV"
colour = "blue"

[retry]
base_delay = 5
""")
    env = {"INVOICEFLOW_ERP_CONFIG": str(config), "ACME_NETSUITE_AUTH": "Bearer t0k3n"}
    assert load_target("initech", env).name == "builtin"  # the file's [default]
    assert load_target("initech", {**env, "INVOICEFLOW_ERP_TARGET": "http"}).source == "environment INVOICEFLOW_ERP_*"
    acme = build_connector(load_target("acme", {**env, "INVOICEFLOW_ERP_TARGET": "http"}), environ=env)
    assert (acme.name, acme.config.authorization, acme.config.subsidiaries) == ("netsuite", "Bearer t0k3n",
                                                                                {"acme-us": "1"})
    with pytest.raises(ValidationError) as caught:
        build_connector(load_target("globex", env), environ={**env, "GLOBEX_TRYTON_PASSWORD": "secret"})
    assert {(p.field, p.message.split(";")[0]) for p in caught.value.problems} == {
        ("user", "is required for target tryton"), ("colour", "is not a setting of target tryton")}
    assert f"{config} [tenants.globex]" in str(caught.value)
    with pytest.raises(ValidationError, match="environment variable 'GLOBEX_TRYTON_PASSWORD' .* is not set"):
        build_connector(load_target("globex", env), environ=env)
    with pytest.raises(ValidationError, match="unknown ERP target 'tryton'; use one of builtin, http"):
        load_target("initech", {"INVOICEFLOW_ERP_TARGET": "tryton"})
    assert (erp_retry_policy(env).base_delay, erp_retry_policy(env).max_attempts) == (5.0, 10)
    with pytest.raises(ValidationError, match="lease: must be a number"):
        erp_retry_policy({"INVOICEFLOW_ERP_RETRY": "lease=soon"})


# -- real worker processes


def _worker_env(db_url: str, erp: ErpStandIn, retry: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ERP_ENV}
    return {**env, "INVOICEFLOW_DATABASE_URL": db_url, "INVOICEFLOW_ERP_TARGET": "http",
            "INVOICEFLOW_ERP_URL": erp.url, "INVOICEFLOW_ERP_TOKEN": TOKEN, "INVOICEFLOW_ERP_TIMEOUT": "5",
            "INVOICEFLOW_ERP_RETRY": retry}


def _wait(predicate, what: str, timeout: float = 60.0, workers=(), logs=()):
    deadline = time.monotonic() + timeout
    while not predicate():
        tail = "\n".join(path.read_text()[-3000:] for path in logs)
        assert time.monotonic() < deadline, f"timed out waiting until {what}\n{tail}"
        assert all(w.poll() is None for w in workers), f"a worker exited while waiting until {what}\n{tail}"
        time.sleep(0.1)


@pytest.mark.slow
def test_worker_killed_mid_posting_then_swept_posts_exactly_once(db_url, erp, tmp_path):
    engine = open_engine(db_url)
    if engine.dialect.name == "postgresql":
        install_procrastinate(engine)  # enqueue defers the wake-up job in the business transaction
    tid, ids, effect_ids = issue_and_enqueue(engine, at=SystemClock().now(), limit=1)
    key = f"invoice:{ids[0]}:issued"
    erp.set_mode("lost", on="POST", delay=120)  # the ERP makes the document, then holds the answer
    env = _worker_env(db_url, erp, retry="lease=2")
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.Popen([*WORKER, "--once"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        _wait(lambda: erp.references()[key] == 1, "the ERP holds the document", workers=[worker],
              logs=[tmp_path / "worker.log"])
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    erp.set_mode("ok")
    assert effect(engine, tid, effect_ids[0]).status == "running" and statuses(engine, ids[:1]) == {"issued"}
    _wait(lambda: SystemClock().now() > effect(engine, tid, effect_ids[0]).locked_until, "the lease expired")
    assert sweep(engine, SystemClock().now()).recovered == [effect_ids[0]]
    finisher = subprocess.run([*WORKER, "--once"], env=env, capture_output=True, text=True, timeout=120)
    assert finisher.returncode == 0, finisher.stderr
    done = effect(engine, tid, effect_ids[0])
    assert (done.status, done.attempts) == ("succeeded", 1) and outcomes(engine, tid, effect_ids[0]) == [
        "lost", "succeeded"]
    # The other invoices' postings, queued at issue, ran too: still exactly one document each.
    assert statuses(engine, ids) == {"posted"}
    assert_erp_holds_each_once(engine, erp, tid, ids)


def _more_customers(doc, copies: int = 12) -> None:
    for n in range(copies):
        model = doc["customers"][n % len(doc["customers"])]
        code = f"{model['code']}-{n}"
        doc["customers"].append({**model, "code": code, "name": f"{model['name']} {n}", "account_ids": []})
        contract = next(c for c in doc["contracts"] if c["customer"] == model["code"])
        doc["contracts"].append({**contract, "code": f"c-{code}", "customer": code})
        doc["subscriptions"].append({"code": f"s-{code}", "contract": f"c-{code}", "interval": "monthly",
                                     "start_date": "2026-09-01"})


@pytest.mark.slow
@pytest.mark.postgres
def test_two_procrastinate_workers_drain_a_down_erp_with_zero_duplicates(pg_url, erp, tmp_path):
    engine = open_engine(pg_url)
    install_procrastinate(engine)
    erp.down()
    tid, ids, effect_ids = issue_and_enqueue(engine, at=SystemClock().now(), doc=catalog(change=_more_customers))
    assert len(ids) == 16
    env = _worker_env(pg_url, erp, retry="base_delay=0.5,max_delay=1,lease=30")
    paths = [tmp_path / f"worker-{n}.log" for n in range(2)]
    logs = [path.open("w") for path in paths]
    workers = [subprocess.Popen(WORKER, env=env, stdout=subprocess.DEVNULL, stderr=log) for log in logs]
    try:
        def all_retried():  # every posting failed twice and is queued (or being tried again right now)
            return all(effect(engine, tid, e).attempts >= 2 for e in effect_ids)
        _wait(all_retried, "every posting failed twice", timeout=90, workers=workers, logs=paths)
        queued = [effect(engine, tid, e) for e in effect_ids]
        assert {v.status for v in queued} <= {"pending", "running"} and all("cannot reach" in v.last_error
                                                                           for v in queued if v.last_error)
        assert statuses(engine, ids) == {"issued"} and erp.references() == {}
        erp.up()
        _wait(lambda: statuses(engine, ids) == {"posted"}, "every invoice is posted", timeout=90, workers=workers,
              logs=paths)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for log in logs:
            log.close()
    assert {effect(engine, tid, e).status for e in effect_ids} == {"succeeded"}
    assert_erp_holds_each_once(engine, erp, tid, ids)
    with engine.connect() as conn:
        runs = [a for e in effect_ids for a in list_attempts(conn, tid, e)]
    assert {a.outcome for a in runs} == {"transient", "succeeded"}
    assert len({a.worker.split("/")[0] for a in runs}) == 2  # both workers took postings
