"""The core benchmark: ingestion throughput, bill-run wall time and peak RSS, against a floor measured in the same run.

    .venv/bin/python bench/core.py                                  # 100k customers, 10M events, SQLite + PostgreSQL
    .venv/bin/python bench/core.py --customers 5000 --events 500000 --backend sqlite --rss-customers ""

Per backend, on a fresh database:

1. seed     a tenant with the demo catalog (4 legal entities, 7 meters, 20 plans of every charge model) and N
            customers on monthly calendar subscriptions starting 2026-09-01, written with bulk inserts (the same
            rows `apply_document` writes, content hashes included); then September is closed with an
            in-process bill run as of 2026-10-01, so the measured run is a steady-state monthly close.
            Not part of the measured numbers, but reported.
2. ingest   E October events generated on the fly through `ingest_events`, one transaction per chunk.
            The generator's own cost is measured separately on the same events.
3. bill run `invoiceflow bill-run --as-of 2026-11-01` in a fresh subprocess: wall time and the child's peak RSS.
4. floor    on the same database: one GROUP BY over every event, fully fetched, plus one executemany in one
            transaction of as many rows as the bill run wrote (invoices + lines) into a scratch table shaped
            like invoice_lines. The bill run is reported as a multiple of the floor.
5. RSS      the bill-run subprocess again for smaller customer counts (events scaled proportionally), to show
            whether peak memory grows with the number of customers.

Targets (checked here, never in timed tests): ingestion >= 250k events/s embedded; bill run <= 60 s and <= 2x
the floor; bill-run peak RSS flat in customer count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from invoiceflow import demo
from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document, content_hash
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.store.tables import (
    contract_versions,
    contracts,
    customer_accounts,
    customers,
    invoice_lines,
    plan_versions,
    plans,
    prepaid_credits,
    subscriptions,
)
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

TENANT = "bench"
START = date(2026, 9, 1)
SEPTEMBER_CLOSE = date(2026, 10, 1)
AS_OF = date(2026, 11, 1)
OCTOBER_SECONDS = 31 * 86_400
SEED = 20261122
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGETS = {"ingest_events_per_s_embedded": 250_000, "bill_run_seconds": 60.0, "bill_run_over_floor": 2.0}

KINDS = ("starter", "growth", "scale", "payments", "team")
# the meters each plan kind rates (demo._plans); events only go to meters the customer's plan uses
KIND_METERS = {
    "starter": ("api_calls",),
    "growth": ("tokens", "storage_gb"),
    "scale": ("api_calls", "nodes"),
    "payments": ("payments",),
    "team": ("active_users", "seats"),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- 1. seed -------------------------------------------------------------------------------------------------------


def customer_items(n: int) -> Iterator[tuple[dict, dict, dict, dict | None]]:
    """(customer, contract, subscription, prepaid credit or None) documents, as `apply_document` takes them."""
    rng = random.Random(SEED)
    for i in range(n):
        _entity, currency, _country, factor, _zones = demo.MARKETS[i % len(demo.MARKETS)]
        code, kind = f"cus-{i:06d}", KINDS[i % len(KINDS)]
        customer = demo.customer_record(i, rng, code, f"tel-{i:06d}")
        version: dict[str, Any] = {"effective_from": START.isoformat(), "plan": f"{kind}-{currency.lower()}"}
        if i % 7 == 0:
            version["discounts"] = [{"code": "WELCOME10", "kind": "percent", "value": "10", "duration": "periods",
                                     "periods": 3}]
        if kind == "scale":
            version["minimum_commitment"] = demo._p("1500", factor, currency)
        contract = {"code": f"ctr-{i:06d}", "customer": code, "currency": currency, "versions": [version]}
        sub = {"code": f"sub-{i:06d}", "contract": contract["code"], "start_date": START.isoformat(),
               "interval": "monthly", "anchor": "calendar"}
        credit = None
        if i % 9 == 0:
            credit = {"code": f"topup-{i:06d}", "customer": code, "currency": currency,
                      "amount": demo._p("100", factor, currency), "granted_on": START.isoformat()}
        yield customer, contract, sub, credit


def seed(engine: Engine, n: int, chunk: int = 20_000) -> dict[str, Any]:
    """The catalog through `apply_document`, then N customers with their contracts and subscriptions in bulk."""
    started = time.perf_counter()
    skeleton = demo.catalog(0)
    with engine.begin() as conn:
        tenant = resolve_tenant(conn, TENANT)
        apply_document(conn, tenant, skeleton)
        entity_ids = dict(conn.execute(text("SELECT code, id FROM legal_entities WHERE tenant_id = :t"), {"t": tenant}).all())
        plan_version_ids = dict(conn.execute(
            select(plans.c.code, plan_versions.c.id).join(plan_versions, plan_versions.c.plan_id == plans.c.id)
            .where(plans.c.tenant_id == tenant)).all())  # fmt: skip
    items = customer_items(n)
    while batch := list(islice(items, chunk)):
        with engine.begin() as conn:
            _seed_customers(conn, tenant, batch, entity_ids, plan_version_ids)
    return {"tenant_id": tenant, "seconds": time.perf_counter() - started}


def _seed_customers(conn, tenant: int, batch: list, entity_ids: dict, plan_version_ids: dict) -> None:
    conn.execute(insert(customers), [{
        "tenant_id": tenant, "code": c["code"], "name": c["name"], "email": c["email"], "timezone": c["timezone"],
        "currency": c["currency"], "legal_entity_id": entity_ids[c["legal_entity"]],
        "billing_address": c["billing_address"], "tax_ids": None, "segment": c["segment"], "crm_id": c["crm_id"],
        "content_hash": content_hash(c),
    } for c, _, _, _ in batch])  # fmt: skip
    codes = [c["code"] for c, _, _, _ in batch]
    customer_ids = dict(conn.execute(select(customers.c.code, customers.c.id).where(
        customers.c.tenant_id == tenant, customers.c.code.between(codes[0], codes[-1]))).all())
    conn.execute(insert(customer_accounts), [
        {"tenant_id": tenant, "external_id": account, "customer_id": customer_ids[c["code"]], "source": "telemetry"}
        for c, _, _, _ in batch for account in c["account_ids"]
    ])
    conn.execute(insert(contracts), [
        {"tenant_id": tenant, "code": k["code"], "customer_id": customer_ids[k["customer"]],
         "currency": k["currency"], "po_number": None}
        for _, k, _, _ in batch
    ])
    contract_ids = dict(conn.execute(select(contracts.c.code, contracts.c.id).where(
        contracts.c.tenant_id == tenant, contracts.c.code.between(batch[0][1]["code"], batch[-1][1]["code"]))).all())
    conn.execute(insert(contract_versions), [
        {"tenant_id": tenant, "contract_id": contract_ids[k["code"]], "version": number,
         "effective_from": date.fromisoformat(v["effective_from"]), "plan_version_id": plan_version_ids[v["plan"]],
         "terms": v, "content_hash": content_hash(v)}
        for _, k, _, _ in batch for number, v in enumerate(k["versions"], start=1)
    ])  # fmt: skip
    conn.execute(insert(subscriptions), [
        {"tenant_id": tenant, "code": s["code"], "customer_id": customer_ids[k["customer"]],
         "contract_id": contract_ids[k["code"]], "interval": s["interval"], "anchor": s["anchor"],
         "start_date": date.fromisoformat(s["start_date"]), "end_date": None, "trial_end": None,
         "cancel_mode": None, "content_hash": content_hash(s)}
        for _, k, s, _ in batch
    ])  # fmt: skip
    credits = [p for _, _, _, p in batch if p is not None]
    if credits:
        conn.execute(insert(prepaid_credits), [
            {"tenant_id": tenant, "code": p["code"], "customer_id": customer_ids[p["customer"]],
             "currency": p["currency"], "amount": Decimal(p["amount"]), "granted_on": date.fromisoformat(p["granted_on"])}
            for p in credits
        ])  # fmt: skip


def verify_seed(engine: Engine, n: int) -> dict[str, int]:
    """Apply the equivalent declarative document: nothing may be created or updated (small runs only)."""
    doc = demo.catalog(0)
    for customer, contract, sub, credit in customer_items(n):
        doc["customers"].append(customer)
        doc["contracts"].append(contract)
        doc["subscriptions"].append(sub)
        if credit:
            doc["prepaid_credits"].append(credit)
    with engine.begin() as conn:
        report = apply_document(conn, resolve_tenant(conn, TENANT), doc)
    if report.changed:
        raise SystemExit(f"bulk seed differs from apply_document: created {dict(report.created)}, "
                         f"updated {dict(report.updated)}")
    return dict(report.unchanged)


def close_september(engine: Engine) -> dict[str, Any]:
    started = time.perf_counter()
    report = run_bill_run(engine, as_of=SEPTEMBER_CLOSE, tenant=TENANT, label="2026-09")
    return {"seconds": time.perf_counter() - started, "invoices": report.invoices}


# -- 2. ingestion --------------------------------------------------------------------------------------------------


def usage_events(customers_n: int, count: int, seed_value: int = SEED) -> Iterator[dict[str, Any]]:
    """October 2026 events: random UUID-like ids, customers uniform, each on a meter of the customer's plan.

    One in five names the customer by its telemetry account id instead of its code; api_calls carries a
    `region` group_by dimension and tokens a `model` one.
    """
    rng = random.Random(seed_value)
    rand, bits = rng.random, rng.getrandbits
    days = [f"2026-10-{d:02d}T" for d in range(1, 32)]
    clock = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
    regions, models = ("eu", "us", "ap"), ("small", "large")
    meters_of = [KIND_METERS[KINDS[i % len(KINDS)]] for i in range(len(KINDS))]
    for _ in range(count):
        i = int(rand() * customers_n)
        h = f"{bits(128):032x}"
        second = int(rand() * OCTOBER_SECONDS)
        choices = meters_of[i % 5]
        metric = choices[int(rand() * len(choices))]
        event: dict[str, Any] = {
            "transaction_id": f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
            "metric": metric, "timestamp": days[second // 86_400] + clock[second % 86_400],
        }  # fmt: skip
        if rand() < 0.2:
            event["external_account_id"] = f"tel-{i:06d}"
        else:
            event["customer"] = f"cus-{i:06d}"
        r = rand()
        if metric == "api_calls":
            event["properties"] = {"region": regions[int(r * 3)]}
        elif metric == "tokens":
            event["properties"] = {"model": models[int(r * 2)], "tokens": 1000 + int(r * 89_000)}
        elif metric == "storage_gb":
            event["value"] = str(10 + int(r * 890))
        elif metric == "nodes":
            event["value"] = str(1 + int(r * 11))
        elif metric == "payments":
            cents = 500 + int(r * 89_500)
            event["value"] = f"{cents // 100}.{cents % 100:02d}"
        elif metric == "active_users":
            event["properties"] = {"user_id": f"u{int(r * 40)}"}
        else:  # seats: additions, time-weighted over the month
            event["value"] = "2" if r < 0.3 else "1"
        yield event


def generator_cost(customers_n: int, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    for _ in usage_events(customers_n, count):
        pass
    seconds = time.perf_counter() - started
    return {"events": count, "seconds": seconds, "events_per_s": count / seconds}


def ingest(engine: Engine, tenant: int, customers_n: int, count: int, chunk: int) -> dict[str, Any]:
    """All events through `ingest_events`, one transaction per `chunk` events; the generator runs inline."""
    stream = usage_events(customers_n, count)
    chunks, totals = [], {"inserted": 0, "duplicates": 0, "late": 0}
    load_before, cpu_before = os.getloadavg()[0], time.process_time()
    started = time.perf_counter()
    done = 0
    while done < count:
        size = min(chunk, count - done)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            report = ingest_events(conn, tenant, islice(stream, size), ingested_at_micros=time.time_ns() // 1000)
        seconds = time.perf_counter() - t0
        done += size
        chunks.append({"events": size, "seconds": round(seconds, 3), "events_per_s": round(size / seconds)})
        for key in totals:
            totals[key] += getattr(report, key)
        log(f"  ingested {done:,}/{count:,} ({size / seconds:,.0f} events/s this chunk)")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    return {"events": count, "seconds": seconds, "events_per_s": count / seconds, "cpu_seconds": cpu,
            "events_per_cpu_s": count / cpu, "load_1min": [load_before, os.getloadavg()[0]], "chunks": chunks,
            **totals}


# -- 3. bill run ---------------------------------------------------------------------------------------------------


# Runs the CLI and, at exit, records the process's own peak RSS (VmHWM). ru_maxrss from wait4 is not used for
# the number: on Linux exec() folds the pre-exec RSS of the forked (or vforked) copy of this parent into the
# child's ru_maxrss, so it would report at least this benchmark process's own size.
_CHILD = """
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as status, open(os.environ["BENCH_PEAK_RSS_FILE"], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_peak)
sys.argv = ["invoiceflow", *sys.argv[1:]]
from invoiceflow.cli import main
main()
"""


def bill_run_subprocess(url: str, workdir: Path) -> dict[str, Any]:
    """`invoiceflow bill-run` in a fresh interpreter: wall time, peak RSS (VmHWM) and CPU time of that child."""
    args = ["bill-run", "--as-of", AS_OF.isoformat(), "--tenant", TENANT, "--json"]
    out_path, peak_path = workdir / f"bill-run-{os.getpid()}.json", workdir / f"bill-run-{os.getpid()}.peak"
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": url, "BENCH_PEAK_RSS_FILE": str(peak_path)}
    load_before = os.getloadavg()[0]
    with open(out_path, "w") as out:
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", _CHILD, *args], stdout=out, env=env, cwd=workdir)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"bill run failed with exit code {child.returncode}: invoiceflow {' '.join(args)}")
    report = json.loads(out_path.read_text())
    peak_kib = int(peak_path.read_text())
    out_path.unlink()
    peak_path.unlink()
    return {"wall_seconds": seconds, "peak_rss_mib": peak_kib / 1024, "report": report,
            "user_cpu_seconds": usage.ru_utime, "system_cpu_seconds": usage.ru_stime,
            "load_1min": [load_before, os.getloadavg()[0]]}


def bill_run_written(engine: Engine, run_id: int) -> dict[str, Any]:
    """What the run wrote, and its own wall time (bill_runs.started_at .. finished_at, inside the engine)."""
    with engine.connect() as conn:
        started, finished = conn.execute(text("SELECT started_at, finished_at FROM bill_runs WHERE id = :r"),
                                         {"r": run_id}).one()
        invoices_n = conn.execute(text("SELECT count(*) FROM invoices WHERE bill_run_id = :r"), {"r": run_id}).scalar_one()
        lines_n = conn.execute(text(
            "SELECT count(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.bill_run_id = :r"
        ), {"r": run_id}).scalar_one()  # fmt: skip
    started, finished = (_as_datetime(v) for v in (started, finished))
    return {"engine_seconds": (finished - started).total_seconds(), "invoices": invoices_n, "lines": lines_n,
            "rows": invoices_n + lines_n}


def _as_datetime(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- 4. floor ------------------------------------------------------------------------------------------------------

FLOOR_GROUP_BY = (
    "SELECT customer_id, meter_id, dims, count(*), sum(quantity), max(quantity) FROM usage_events "
    "WHERE tenant_id = {p} GROUP BY customer_id, meter_id, dims"
)


def floor(engine: Engine, tenant: int, run_id: int, rows_n: int) -> dict[str, Any]:
    """(a) one GROUP BY over every event, fully fetched; (b) one executemany of `rows_n` invoice-line rows."""
    postgres = engine.dialect.name == "postgresql"
    marker = "%s" if postgres else "?"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        cursor = raw.cursor()
        started = time.perf_counter()
        cursor.execute(FLOOR_GROUP_BY.format(p=marker), (tenant,))
        groups = len(cursor.fetchall())
        group_by_seconds = time.perf_counter() - started
        columns = [c.name for c in invoice_lines.columns if c.name != "id"]
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM invoice_lines WHERE invoice_id IN "
            f"(SELECT id FROM invoices WHERE bill_run_id = {marker}) ORDER BY id", (run_id,))
        source = cursor.fetchall()
        rows = [source[i % len(source)] for i in range(rows_n)]
        del source
        raw.rollback()
        _create_scratch(conn, postgres)
        conn.commit()
        insert_sql = (f"INSERT INTO bench_floor_lines ({', '.join(columns)}) "
                      f"VALUES ({', '.join([marker] * len(columns))})")
        started = time.perf_counter()
        if postgres:
            with raw.transaction():
                raw.cursor().executemany(insert_sql, rows)
        else:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(insert_sql, rows)
            cursor.execute("COMMIT")
        insert_seconds = time.perf_counter() - started
        conn.exec_driver_sql("DROP TABLE bench_floor_lines")
        conn.commit()
    return {"group_by_seconds": group_by_seconds, "groups": groups, "insert_seconds": insert_seconds,
            "inserted_rows": rows_n, "seconds": group_by_seconds + insert_seconds}


def _create_scratch(conn, postgres: bool) -> None:
    """A table shaped like invoice_lines (same columns and types, a primary key, no other index)."""
    conn.exec_driver_sql("DROP TABLE IF EXISTS bench_floor_lines")
    if postgres:
        conn.exec_driver_sql("CREATE TABLE bench_floor_lines (LIKE invoice_lines)")
        conn.exec_driver_sql("ALTER TABLE bench_floor_lines ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY, "
                             "ADD PRIMARY KEY (id)")
    else:
        ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'invoice_lines'").scalar_one()
        body = ddl[ddl.index("(") + 1 : ddl.rindex(")")]
        keep = [part for part in _split_columns(body)
                if "PRIMARY KEY" in part.upper() or not part.strip().upper().startswith(("CONSTRAINT", "FOREIGN", "UNIQUE"))]
        conn.exec_driver_sql(f"CREATE TABLE bench_floor_lines ({', '.join(keep)})")


def _split_columns(body: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    return [*parts, current]


# -- backends ------------------------------------------------------------------------------------------------------


class Database:
    """A fresh database for one run: a SQLite file in the work directory or a PostgreSQL database."""

    def __init__(self, backend: str, admin_url: str, workdir: Path, label: str):
        self.backend, self.admin_url = backend, admin_url
        if backend == "sqlite":
            self.path = workdir / f"bench-{label}-{os.getpid()}.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.name = f"invoiceflow_bench_{os.getpid()}_{label}"
            self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def __enter__(self) -> "Database":
        if self.backend == "sqlite":
            self._remove_files()
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"', f'CREATE DATABASE "{self.name}"')
        self.engine = open_engine(self.url)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.engine.dispose()
        if self.backend == "sqlite":
            self._remove_files()
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def size_mib(self) -> float:
        if self.backend == "sqlite":
            return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*")) / 2**20
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 2**20

    def settle(self) -> None:
        """Checkpoint (SQLite) or VACUUM ANALYZE (PostgreSQL, what autovacuum would do) before the bill run."""
        if self.backend == "sqlite":
            raw = self.engine.raw_connection()  # outside a transaction: the engine's BEGIN IMMEDIATE would block it
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        else:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")

    def _admin(self, *statements: str) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
        admin.dispose()

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def prepare(db: Database, customers_n: int, events_n: int, chunk: int, verify: bool) -> dict[str, Any]:
    """Seed, close September, ingest October: everything before the measured bill run."""
    log(f"{db.backend}: seeding {customers_n:,} customers")
    seeded = seed(db.engine, customers_n)
    result: dict[str, Any] = {"seed_seconds": seeded["seconds"]}
    if verify:
        result["seed_verified_unchanged"] = verify_seed(db.engine, customers_n)
    log(f"{db.backend}: seeded in {seeded['seconds']:.1f} s; closing September")
    result["september_close"] = close_september(db.engine)
    log(f"{db.backend}: September closed in {result['september_close']['seconds']:.1f} s; ingesting {events_n:,} events")
    result["ingest"] = ingest(db.engine, seeded["tenant_id"], customers_n, events_n, chunk)
    result["tenant_id"] = seeded["tenant_id"]
    started = time.perf_counter()
    db.settle()
    result["settle_seconds"] = time.perf_counter() - started
    result["database_mib"] = db.size_mib()
    return result


def run_backend(backend: str, args: argparse.Namespace, customers_n: int, events_n: int, *, with_floor: bool,
                label: str) -> dict[str, Any]:  # fmt: skip
    with Database(backend, args.database_url, args.workdir, label) as db:
        result = prepare(db, customers_n, events_n, args.chunk, args.verify_seed)
        result.update(customers=customers_n, events=events_n)
        log(f"{backend}: ingested at {result['ingest']['events_per_s']:,.0f} events/s; bill run (subprocess)")
        bill = bill_run_subprocess(db.url, args.workdir)
        bill.update(bill_run_written(db.engine, bill["report"]["bill_run_id"]))
        result["bill_run"] = bill
        log(f"{backend}: bill run {bill['wall_seconds']:.1f} s wall, {bill['peak_rss_mib']:.0f} MiB peak RSS, "
            f"{bill['invoices']:,} invoices, {bill['lines']:,} lines")
        if with_floor:
            result["floor"] = floor(db.engine, result["tenant_id"], bill["report"]["bill_run_id"], bill["rows"])
            result["bill_run_over_floor"] = bill["wall_seconds"] / result["floor"]["seconds"]
            result["bill_run_in_engine_over_floor"] = bill["engine_seconds"] / result["floor"]["seconds"]
            log(f"{backend}: floor {result['floor']['seconds']:.1f} s "
                f"(group by {result['floor']['group_by_seconds']:.1f} s + insert {result['floor']['insert_seconds']:.1f} s)")
    return result


# -- report --------------------------------------------------------------------------------------------------------


def machine(args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        info["cpu_model"] = platform.processor()
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):  # a fixed pure-Python loop, to compare this machine with others
        total += i
    info["python_loop_10m_seconds"] = round(time.perf_counter() - started, 2)
    info["load_1min_at_start"] = os.getloadavg()[0]
    with open("/proc/meminfo") as meminfo:
        info["memory_gib"] = round(int(meminfo.readline().split()[1]) / 2**20, 1)
    if args.backend in ("postgres", "both"):
        admin = create_engine(args.database_url)
        with admin.connect() as conn:
            info["postgresql"] = conn.exec_driver_sql("SHOW server_version").scalar_one()
            info["postgresql_settings"] = {
                name: conn.exec_driver_sql(f"SHOW {name}").scalar_one()
                for name in ("shared_buffers", "work_mem", "synchronous_commit", "fsync", "max_parallel_workers_per_gather")
            }
        admin.dispose()
    return info


def verdicts(results: dict[str, Any], rss: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "sqlite" in results:
        ingest_result = results["sqlite"]["ingest"]
        eps = ingest_result["events_per_s_excluding_generator"]
        out["ingest_embedded"] = {"value": eps, "including_generator": ingest_result["events_per_s"],
                                  "target": TARGETS["ingest_events_per_s_embedded"],
                                  "met": eps >= TARGETS["ingest_events_per_s_embedded"]}
    for backend, r in results.items():
        seconds = r["bill_run"]["wall_seconds"]
        out[f"bill_run_seconds_{backend}"] = {"value": seconds, "target": TARGETS["bill_run_seconds"],
                                              "met": seconds <= TARGETS["bill_run_seconds"]}
        if "bill_run_over_floor" in r:
            ratio = r["bill_run_over_floor"]
            out[f"bill_run_over_floor_{backend}"] = {"value": ratio, "target": TARGETS["bill_run_over_floor"],
                                                     "met": ratio <= TARGETS["bill_run_over_floor"]}
    if len(rss) >= 2:
        low, high = rss[0], rss[-1]
        growth = high["peak_rss_mib"] / low["peak_rss_mib"]
        slope = (high["peak_rss_mib"] - low["peak_rss_mib"]) * 1024 / (high["customers"] - low["customers"])
        out["rss_flat"] = {"value": growth, "customers": [low["customers"], high["customers"]],
                           "kib_per_customer": slope, "met": growth <= 1.25,
                           "note": "peak RSS at the largest / at the smallest customer count (SQLite: includes a "
                                   "page cache that fills up to its configured size as the database grows)"}
    return out


def print_summary(summary: dict[str, Any]) -> None:
    rows = [("", *summary["results"].keys())]

    def row(name: str, fn) -> None:
        rows.append((name, *(fn(r) for r in summary["results"].values())))

    row("customers / events", lambda r: f"{r['customers']:,} / {r['events']:,}")
    row("seed (bulk) s", lambda r: f"{r['seed_seconds']:.1f}")
    row("September close s (setup)", lambda r: f"{r['september_close']['seconds']:.1f}")
    row("ingest events/s", lambda r: f"{r['ingest']['events_per_s']:,.0f}")
    gen = summary["generator"]["events_per_s"]
    row("ingest events/s excl. generator", lambda r: f"{r['ingest']['events_per_s_excluding_generator']:,.0f}")
    row("ingest events per CPU-second", lambda r: f"{r['ingest']['events_per_cpu_s']:,.0f}")
    row("bill run wall s", lambda r: f"{r['bill_run']['wall_seconds']:.1f}")
    row("bill run in-engine s", lambda r: f"{r['bill_run']['engine_seconds']:.1f}")
    row("bill run peak RSS MiB", lambda r: f"{r['bill_run']['peak_rss_mib']:.0f}")
    row("invoices / lines", lambda r: f"{r['bill_run']['invoices']:,} / {r['bill_run']['lines']:,}")
    row("floor: GROUP BY s", lambda r: f"{r['floor']['group_by_seconds']:.1f}" if "floor" in r else "-")
    row("floor: bulk insert s", lambda r: f"{r['floor']['insert_seconds']:.1f}" if "floor" in r else "-")
    row("bill run / floor (wall)", lambda r: f"{r['bill_run_over_floor']:.1f}x" if "floor" in r else "-")
    row("bill run / floor (in-engine)", lambda r: f"{r['bill_run_in_engine_over_floor']:.1f}x" if "floor" in r else "-")
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    print()
    print(f"generator alone: {gen:,.0f} events/s")
    for r in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    if summary["rss_scaling"]:
        print("\nbill-run peak RSS by customer count (" + summary["rss_backend"] + ")")
        for r in summary["rss_scaling"]:
            print(f"  {r['customers']:>8,} customers {r['events']:>11,} events  {r['peak_rss_mib']:7.0f} MiB  "
                  f"{r['wall_seconds']:6.1f} s")
    print("\ntargets")
    for name, v in summary["verdicts"].items():
        print(f"  {name}: {v['value']:,.2f} (target {v.get('target', 'flat')}) -> {'met' if v['met'] else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--database-url", default=os.environ.get("INVOICEFLOW_TEST_POSTGRES_URL", DEFAULT_PG),
                        help="PostgreSQL server to create the scratch database on (the database itself is not used)")
    parser.add_argument("--workdir", type=Path, default=Path("bench/.work"))
    parser.add_argument("--json", dest="json_out", type=Path, help="write the results as JSON here")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="events per ingestion transaction")
    parser.add_argument("--rss-customers", default="10000,30000",
                        help="extra customer counts for the RSS scaling runs (comma separated, '' for none)")
    parser.add_argument("--generator-sample", type=int, default=2_000_000,
                        help="events to time the generator alone on (its cost per event is constant)")
    parser.add_argument("--rss-backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--verify-seed", action="store_true",
                        help="check the bulk seed against apply_document (slow: use on small runs)")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    per_customer = args.events / args.customers

    started = time.perf_counter()
    summary: dict[str, Any] = {
        "date": date.today().isoformat(), "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(args), "rss_backend": args.rss_backend,
    }
    log(f"generator alone: {min(args.events, args.generator_sample):,} events")
    summary["generator"] = generator_cost(args.customers, min(args.events, args.generator_sample))
    results = {b: run_backend(b, args, args.customers, args.events, with_floor=True, label="main") for b in backends}
    for r in results.values():  # the generator runs inline with ingestion; its own cost taken out
        ingest_seconds = r["ingest"]["seconds"] - r["events"] / summary["generator"]["events_per_s"]
        r["ingest"]["events_per_s_excluding_generator"] = r["events"] / ingest_seconds
    rss = []
    for n in sorted(int(x) for x in args.rss_customers.split(",") if x.strip()):
        r = run_backend(args.rss_backend, args, n, round(n * per_customer), with_floor=False, label=f"rss{n}")
        rss.append({"customers": n, "events": r["events"], "peak_rss_mib": r["bill_run"]["peak_rss_mib"],
                    "wall_seconds": r["bill_run"]["wall_seconds"], "invoices": r["bill_run"]["invoices"]})
    if args.rss_backend in results:
        main_run = results[args.rss_backend]
        rss.append({"customers": args.customers, "events": args.events,
                    "peak_rss_mib": main_run["bill_run"]["peak_rss_mib"],
                    "wall_seconds": main_run["bill_run"]["wall_seconds"], "invoices": main_run["bill_run"]["invoices"]})
    summary.update(results=results, rss_scaling=sorted(rss, key=lambda r: r["customers"]))
    summary["verdicts"] = verdicts(results, summary["rss_scaling"])
    summary["total_seconds"] = time.perf_counter() - started
    print_summary(summary)
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
