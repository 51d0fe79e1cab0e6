"""The effects outbox on SQLite and PostgreSQL: atomic enqueue, idempotency, retries, dead letters, replay,
ordering keys, the lease sweep, a worker killed mid-handler, and concurrent runners never doubling an effect."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from invoiceflow.audit.log import read_entries
from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import FrozenClock, SystemClock
from invoiceflow.effects import (HandlerRegistry, InlineRunner, Permanent, RetryPolicy, Transient, enqueue,
                                 get_effect, list_attempts, replay_effect, retry_effect, sweep)
from invoiceflow.effects.jobs import install_procrastinate
from invoiceflow.effects.runner import claim, execute
from invoiceflow.errors import ConflictError, ValidationError
from invoiceflow.store.effects_tables import effects
from invoiceflow.store.tables import tenants
from invoiceflow.store.tenancy import tenant_id

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
APP = "import typer; from invoiceflow.commands.effects import register; app = typer.Typer(); register(app); app()"
# Handlers for worker subprocesses: every run is recorded in probe_runs of the database under test.
PROBE = '''
import os, time
from sqlalchemy import text
from invoiceflow.effects import RetryPolicy, register

def record(engine, key, phase):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO probe_runs VALUES (:k, :p, :pid)"), {"k": key, "p": phase, "pid": os.getpid()})

@register("probe.sleepy", policy=RetryPolicy(lease=1.0))
def sleepy(effect, ctx):
    with ctx.engine.connect() as conn:
        first = not conn.execute(text("SELECT count(*) FROM probe_runs")).scalar_one()
    record(ctx.engine, effect.idempotency_key, "started")
    time.sleep(120 if first else 0)  # the first run is killed here
    record(ctx.engine, effect.idempotency_key, "done")
    return {"first_run": first}

@register("probe.count")
def count(effect, ctx):
    time.sleep(0.05)
    record(ctx.engine, effect.idempotency_key, "done")
'''


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def tid(engine):
    with engine.begin() as conn:
        return tenant_id(conn)


def scripted(calls: list[str], script: dict[str, list[Exception]] | None = None,
             policy: RetryPolicy | None = None) -> HandlerRegistry:
    """A registry whose email.send handler logs each call and raises the next scripted error for its key."""
    script, registry = script or {}, HandlerRegistry()

    @registry.register("email.send", policy=policy)
    def send(effect, context):
        calls.append(effect.idempotency_key)
        if script.get(effect.idempotency_key):
            raise script[effect.idempotency_key].pop(0)
        return {"sent": effect.idempotency_key, "attempt": context.attempt}

    return registry


def add(engine, tid, key, *, ordering_key=None, payload=None, at=T0, kind="email.send"):
    with engine.begin() as conn:
        return enqueue(conn, tid, kind, target="smtp", payload=payload or {"to": f"{key}@example.com"},
                       idempotency_key=key, ordering_key=ordering_key, at=at).id


def n_effects(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(effects)).scalar_one()


def effect(engine, tid, effect_id):
    with engine.connect() as conn:
        return get_effect(conn, tid, effect_id)


def outcomes(engine, tid, effect_id):
    with engine.connect() as conn:
        return [a.outcome for a in list_attempts(conn, tid, effect_id)]


def run(engine, clock, registry, seed=1):
    return InlineRunner(worker="test", rng=random.Random(seed)).run_until_idle(engine, clock=clock, handlers=registry)


def test_rolled_back_transaction_leaves_no_effect(engine):
    with pytest.raises(RuntimeError, match="business change failed"):
        with engine.begin() as conn:
            tid = tenant_id(conn, "rollback-co")  # the business change: a new tenant
            enqueue(conn, tid, "email.send", target="smtp", payload={"welcome": True}, idempotency_key="welcome",
                    at=T0)
            raise RuntimeError("business change failed")
    assert n_effects(engine) == 0
    with engine.connect() as conn:
        assert conn.execute(select(tenants.c.id).where(tenants.c.code == "rollback-co")).first() is None


def test_enqueue_is_idempotent_per_key(engine, tid):
    with engine.begin() as conn:
        first = enqueue(conn, tid, "erp.post", target="tryton", payload={"invoice": 7, "amount": "12.50"},
                        idempotency_key="invoice:7:post", at=T0)
        again = enqueue(conn, tid, "erp.post", target="tryton", payload={"amount": "12.50", "invoice": 7},
                        idempotency_key="invoice:7:post", at=T0 + timedelta(hours=1))
    assert first.created and not again.created and again.id == first.id
    stored = effect(engine, tid, first.id)
    assert (stored.status, stored.max_attempts, stored.created_at, n_effects(engine)) == ("pending", 10, T0, 1)


def test_same_key_with_a_different_payload_is_a_conflict(engine, tid):
    first_id = add(engine, tid, "k1", payload={"to": "a@example.com"})
    with pytest.raises(ConflictError, match=r"'k1' is already used by effect \d+ .* different payload"):
        add(engine, tid, "k1", payload={"to": "b@example.com"})
    with pytest.raises(ConflictError, match="different target"):
        with engine.begin() as conn:
            enqueue(conn, tid, "email.send", target="other-smtp", payload={"to": "a@example.com"},
                    idempotency_key="k1", at=T0)
    stored = effect(engine, tid, first_id)
    assert (stored.payload, stored.target, n_effects(engine)) == ({"to": "a@example.com"}, "smtp", 1)


def test_bad_enqueue_names_every_field_and_writes_nothing(engine, tid):
    with pytest.raises(ValidationError) as caught:
        with engine.begin() as conn:
            enqueue(conn, tid, "", target="smtp", payload=["not", "a", "mapping"], idempotency_key="x" * 201,
                    at=T0.replace(tzinfo=None))
    assert {p.field for p in caught.value.problems} == {"kind", "payload", "idempotency_key", "at"}
    assert "the limit is 200" in str(caught.value) and n_effects(engine) == 0


def test_success_records_result_and_attempt(engine, tid, clock):
    effect_id = add(engine, tid, "hello")
    calls = []
    report = run(engine, clock, scripted(calls))
    assert (report.succeeded, report.retried, report.dead) == (1, 0, 0)
    done = effect(engine, tid, effect_id)
    assert (done.status, done.attempts, done.result, done.succeeded_at) == (
        "succeeded", 1, {"sent": "hello", "attempt": 1}, T0)
    assert (done.locked_by, done.last_error, outcomes(engine, tid, effect_id)) == (None, None, ["succeeded"])
    assert run(engine, clock, scripted(calls)).succeeded == 0 and calls == ["hello"]


def test_transient_failure_is_retried_with_backoff_then_succeeds(engine, tid, clock):
    effect_id = add(engine, tid, "flaky")
    calls = []
    registry = scripted(calls, {"flaky": [Transient("SMTP 451 try later")]}, RetryPolicy(base_delay=60.0))
    assert run(engine, clock, registry).retried == 1
    waiting = effect(engine, tid, effect_id)
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("pending", 1, "SMTP 451 try later")
    assert T0 <= waiting.next_attempt_at <= T0 + timedelta(seconds=60)
    clock.advance(waiting.next_attempt_at - T0 - timedelta(microseconds=1))
    assert run(engine, clock, registry).succeeded == 0  # not due yet
    clock.advance(timedelta(microseconds=1))
    assert run(engine, clock, registry).succeeded == 1 and calls == ["flaky", "flaky"]
    assert (effect(engine, tid, effect_id).status, effect(engine, tid, effect_id).attempts) == ("succeeded", 2)
    assert outcomes(engine, tid, effect_id) == ["transient", "succeeded"]


@pytest.mark.parametrize("error, last_error, wait", [
    (KeyError("customer_email"), "KeyError: 'customer_email'", None),  # a bug or fault counts as transient
    (Transient("429 slow down", retry_after=42), "429 slow down", timedelta(seconds=42)),  # the target's wait
])
def test_other_errors_retry_and_retry_after_sets_the_time(engine, tid, clock, error, last_error, wait):
    effect_id = add(engine, tid, "k")
    run(engine, clock, scripted([], {"k": [error]}))
    failed = effect(engine, tid, effect_id)
    assert (failed.status, failed.last_error) == ("pending", last_error)
    assert wait is None or failed.next_attempt_at == T0 + wait


def test_permanent_failure_dead_letters_with_error_and_audit(engine, tid, clock):
    effect_id = add(engine, tid, "rejected")
    assert run(engine, clock, scripted([], {"rejected": [Permanent("mailbox does not exist")]})).dead == 1
    dead = effect(engine, tid, effect_id)
    assert (dead.status, dead.attempts) == ("dead", 1)
    assert dead.last_error == "mailbox does not exist [permanent failure]"
    with engine.connect() as conn:
        audit = [e for e in read_entries(conn, tid) if e.action == "effect.dead_lettered"]
    assert [(e.object_id, e.payload["error"]) for e in audit] == [(str(effect_id), dead.last_error)]


def test_transient_failures_dead_letter_after_max_attempts(engine, tid, clock):
    effect_id = add(engine, tid, "down")
    calls = []
    registry = scripted(calls, {"down": [Transient("ERP unreachable")] * 10},
                        RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=1.0))
    for _ in range(5):
        run(engine, clock, registry)
        clock.advance(timedelta(seconds=2))
    dead = effect(engine, tid, effect_id)
    assert (dead.status, dead.attempts, len(calls)) == ("dead", 3, 3)
    assert dead.last_error == "ERP unreachable [gave up after 3 attempts (limit 3)]"
    assert outcomes(engine, tid, effect_id) == ["transient", "transient", "transient"]


def test_dead_effect_replayed_after_the_fix_succeeds(engine, tid, clock):
    effect_id = add(engine, tid, "post")
    calls = []
    assert run(engine, clock, scripted(calls, {"post": [Permanent("unknown account 4000")]})).dead == 1
    clock.advance(timedelta(hours=1))
    with engine.begin() as conn:
        replayed = replay_effect(conn, tid, effect_id, at=clock.now(), actor="alice")
    assert (replayed.status, replayed.attempts, replayed.last_error) == ("pending", 0, None)
    assert run(engine, clock, scripted(calls)).succeeded == 1
    done = effect(engine, tid, effect_id)
    assert (done.status, done.attempts, done.result["attempt"]) == ("succeeded", 1, 1)
    assert outcomes(engine, tid, effect_id) == ["permanent", "succeeded"]
    with engine.connect() as conn:
        actions = [(e.action, e.actor) for e in read_entries(conn, tid, object_type="effect")]
    assert actions == [("effect.dead_lettered", "system:effects"), ("effect.replayed", "alice")]
    with pytest.raises(ConflictError, match="already succeeded; pass --force"):
        with engine.begin() as conn:
            replay_effect(conn, tid, effect_id, at=clock.now(), actor="alice")
    with engine.begin() as conn:
        assert replay_effect(conn, tid, effect_id, at=clock.now(), actor="alice", force=True).status == "pending"


def test_retry_makes_a_waiting_effect_due_now_and_keeps_attempts(engine, tid, clock):
    effect_id = add(engine, tid, "later")
    run(engine, clock, scripted([], {"later": [Transient("busy", retry_after=3600)]}))
    with engine.begin() as conn:
        retried = retry_effect(conn, tid, effect_id, at=clock.now(), actor="bob")
    assert (retried.status, retried.attempts, retried.next_attempt_at) == ("pending", 1, T0)
    assert run(engine, clock, scripted([])).succeeded == 1
    with pytest.raises(ConflictError, match="is succeeded and cannot be retried"):
        with engine.begin() as conn:
            retry_effect(conn, tid, effect_id, at=clock.now(), actor="bob")


def test_ordering_key_runs_in_id_order_one_at_a_time(engine, tid, clock):
    first = add(engine, tid, "acct-1", ordering_key="account:42")
    second = add(engine, tid, "acct-2", ordering_key="account:42")
    third = add(engine, tid, "acct-3", ordering_key="account:42")
    other = add(engine, tid, "other", ordering_key="account:7")
    calls = []
    registry = scripted(calls, {"acct-1": [Transient("ERP busy", retry_after=300)]})
    held = claim(engine, now=T0, handlers=registry, worker="w1", limit=10)
    assert [c.effect.idempotency_key for c in held] == ["acct-1", "other"]  # one per ordering key
    assert claim(engine, now=T0, handlers=registry, worker="w2", limit=10) == []  # even for a second runner
    for item in held:
        execute(engine, item, clock=clock, handlers=registry, rng=random.Random(0))
    run(engine, clock, registry)
    assert calls == ["acct-1", "other"]  # the later ones wait while the first is retrying
    clock.advance(timedelta(hours=1))  # all due now, but the order still holds
    run(engine, clock, registry)
    assert calls == ["acct-1", "other", "acct-1", "acct-2", "acct-3"]
    assert {effect(engine, tid, i).status for i in (first, second, third, other)} == {"succeeded"}


def test_a_dead_effect_blocks_its_ordering_key_until_replayed(engine, tid, clock):
    first = add(engine, tid, "a-1", ordering_key="account:1")
    second = add(engine, tid, "a-2", ordering_key="account:1")
    calls = []
    run(engine, clock, scripted(calls, {"a-1": [Permanent("rejected")]}))
    clock.advance(timedelta(days=1))
    run(engine, clock, scripted(calls))
    assert calls == ["a-1"] and effect(engine, tid, second).status == "pending"
    with engine.begin() as conn:
        replay_effect(conn, tid, first, at=clock.now(), actor="alice")
    run(engine, clock, scripted(calls))
    assert calls == ["a-1", "a-1", "a-2"]


def test_sweep_returns_an_expired_lease_to_pending_without_counting_a_failure(engine, tid, clock):
    effect_id = add(engine, tid, "orphan")
    registry = scripted([])
    [held] = claim(engine, now=T0, handlers=registry, worker="dead-worker")  # its worker then dies
    running = effect(engine, tid, effect_id)
    assert (running.status, running.locked_until) == ("running", T0 + timedelta(seconds=120))
    assert sweep(engine, T0 + timedelta(seconds=119)).recovered == []
    swept = sweep(engine, T0 + timedelta(seconds=121))
    assert swept.recovered == [effect_id] and swept.dead_lettered == []
    back = effect(engine, tid, effect_id)
    assert (back.status, back.attempts, back.lost_leases, back.locked_by) == ("pending", 0, 1, None)
    clock.advance(timedelta(seconds=121))
    assert run(engine, clock, registry).succeeded == 1 and effect(engine, tid, effect_id).attempts == 1
    assert outcomes(engine, tid, effect_id) == ["lost", "succeeded"]
    # The dead worker comes back to life and finishes late: its outcome is logged, not applied.
    assert execute(engine, held, clock=clock, handlers=registry, rng=random.Random(0)) == "stale"
    assert effect(engine, tid, effect_id).status == "succeeded"
    assert outcomes(engine, tid, effect_id) == ["lost", "succeeded", "stale"]


def test_an_effect_that_keeps_killing_workers_is_dead_lettered(engine, tid, clock):
    effect_id = add(engine, tid, "poison")
    registry, now = scripted([]), T0
    for _ in range(3):
        assert claim(engine, now=now, handlers=registry, worker="w")
        now += timedelta(minutes=5)
        swept = sweep(engine, now)
    assert swept.dead_lettered == [effect_id]
    dead = effect(engine, tid, effect_id)
    assert (dead.status, dead.attempts) == ("dead", 0) and "lost 3 runs in a row" in dead.last_error


@pytest.mark.postgres
def test_procrastinate_job_commits_and_rolls_back_with_the_effect(pg_url, clock):
    engine = open_engine(pg_url)
    install_procrastinate(engine)
    with engine.begin() as conn:
        tid = tenant_id(conn)
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            enqueue(conn, tid, "email.send", target="smtp", payload={}, idempotency_key="gone", at=T0)
            raise RuntimeError("rolled back")
    effect_id = add(engine, tid, "kept")
    with engine.connect() as conn:
        jobs = conn.execute(text("SELECT task_name, args, status FROM procrastinate_jobs")).all()
    assert jobs == [("invoiceflow.effects.run", {"effect_id": effect_id}, "todo")]
    run(engine, clock, scripted([], {"kept": [Transient("later", retry_after=90)]}))
    with engine.connect() as conn:
        scheduled = conn.execute(text("SELECT scheduled_at FROM procrastinate_jobs ORDER BY id")).scalars().all()
    assert scheduled == [T0, T0 + timedelta(seconds=90)]  # the retry's wake-up committed with the retry


def _probe(tmp_path, db_url):
    (tmp_path / "effects_probe.py").write_text(PROBE)
    engine = open_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe_runs (idempotency_key VARCHAR(200) NOT NULL, "
                          "phase VARCHAR(16) NOT NULL, pid INTEGER NOT NULL)"))
        tid = tenant_id(conn)
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": db_url, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return engine, tid, env


def _runs(engine, phase):
    with engine.connect() as conn:
        return conn.execute(text("SELECT idempotency_key, pid FROM probe_runs WHERE phase = :p"), {"p": phase}).all()


@pytest.mark.slow
def test_worker_killed_mid_handler_then_sweep_completes_the_effect_exactly_once(db_url, tmp_path):
    engine, tid, env = _probe(tmp_path, db_url)
    if engine.dialect.name == "postgresql":
        install_procrastinate(engine)  # so enqueue defers the job in the same transaction
    effect_id = add(engine, tid, "invoice:9:erp", kind="probe.sleepy", at=SystemClock().now())
    cmd = [sys.executable, "-c", APP, "worker", "--once", "--handlers", "effects_probe"]
    log = tmp_path / "worker.log"
    with log.open("w") as stderr:
        worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 60
    while not _runs(engine, "started") and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.poll() is None and _runs(engine, "started"), log.read_text()
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert effect(engine, tid, effect_id).status == "running" and _runs(engine, "done") == []
    while SystemClock().now() <= effect(engine, tid, effect_id).locked_until:
        time.sleep(0.1)
    assert sweep(engine, SystemClock().now()).recovered == [effect_id]
    finisher = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert finisher.returncode == 0, finisher.stderr
    assert [key for key, _ in _runs(engine, "started")] == ["invoice:9:erp"] * 2
    assert [key for key, _ in _runs(engine, "done")] == ["invoice:9:erp"]  # the effect happened once
    done = effect(engine, tid, effect_id)
    assert (done.status, done.attempts, done.result) == ("succeeded", 1, {"first_run": False})
    assert outcomes(engine, tid, effect_id) == ["lost", "succeeded"]


@pytest.mark.slow
@pytest.mark.postgres
def test_two_runner_processes_never_run_the_same_effect(pg_url, tmp_path):
    engine, tid, env = _probe(tmp_path, pg_url)
    keys = [f"webhook:{n}" for n in range(60)]
    for key in keys:
        add(engine, tid, key, kind="probe.count", at=SystemClock().now() - timedelta(seconds=1))
    cmd = [sys.executable, "-c", APP, "effects", "run", "--handlers", "effects_probe", "--json"]
    runners = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    results = [r.communicate(timeout=120) for r in runners]
    assert [r.returncode for r in runners] == [0, 0], results
    done = _runs(engine, "done")
    assert sorted(key for key, _ in done) == sorted(keys)  # every effect once, none twice
    assert len({pid for _, pid in done}) == 2  # both processes took part
    with engine.connect() as conn:
        assert conn.execute(select(effects.c.status, func.count()).group_by(effects.c.status)).all() == [
            ("succeeded", 60)]
