"""Usage ingestion over HTTP: batches of 1,000 events posted by concurrent clients to a live server.

    .venv/bin/python bench/api_ingest.py                                   # SQLite and PostgreSQL, defaults below
    .venv/bin/python bench/api_ingest.py --backend sqlite --events 100000 --clients 4

Per backend, on a fresh database:

1. seed       the core benchmark's catalog and N customers (bench/core.py `seed`), and one API key (revops).
2. embedded   the baseline, same run, same database: `ingest_events` called directly, one transaction per
              batch of the same size, one thread - what the API adds nothing to.
3. HTTP       `invoiceflow serve` (uvicorn, `--server-workers` processes) as a subprocess; C client threads (httpx)
              post pre-serialised batches to POST /v1/usage-events/batch, each with its own Idempotency-Key
              (the realistic setting; `--no-idempotency-keys` to compare). Event generation and JSON encoding
              happen before the clock starts. Reported: events/s over the whole run, p50/p99/max latency per
              batch, and the ratio to the embedded figure. Every event is checked to be stored once.

Each phase also reports the CPU it cost the machine per 1,000 events (clients, server processes and, on
PostgreSQL, every postgres process) and the ceiling that implies: cores x 1,000,000 / CPU-ms per 1,000
events, the rate the machine could sustain if it did nothing else. A PostgreSQL figure includes whatever
else the cluster ran meanwhile, so it is an upper bound of this run's cost.

The target (>= 50,000 events/s over HTTP) is checked here, never in a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))
import core  # noqa: E402 - the core benchmark's seed, event generator and scratch databases

from invoiceflow.api.credentials import create_api_key  # noqa: E402
from invoiceflow.metering.ingest import ingest_events  # noqa: E402
from invoiceflow.store.tables import usage_events  # noqa: E402
from invoiceflow.store.tenancy import tenant_id as resolve_tenant  # noqa: E402

TARGET = 50_000


class CpuMeter:
    """CPU seconds spent by this process (the clients), the server processes and PostgreSQL's processes
    between `start` and `stop`: what one phase cost the machine, whoever ran it."""

    def __init__(self, postgres: bool, server: subprocess.Popen | None = None):
        self.postgres = postgres
        self.server = psutil.Process(server.pid) if server else None

    def _sample(self) -> dict[str, float]:
        totals = {"clients": _cpu(psutil.Process()), "server": 0.0, "postgres": 0.0}
        if self.server is not None:
            totals["server"] = sum(_cpu(p) for p in [self.server, *self.server.children(recursive=True)])
        for proc in psutil.process_iter(["name"]) if self.postgres else ():
            if proc.info["name"] == "postgres":
                totals["postgres"] += _cpu(proc)
        return totals

    def start(self) -> None:
        self.before = self._sample()

    def stop(self, events: int) -> dict[str, float]:
        after = self._sample()
        spent = {k: after[k] - self.before[k] for k in after}
        spent["total"] = sum(spent.values())
        return {f"{k}_cpu_ms_per_1000": round(v * 1_000_000 / events, 1) for k, v in spent.items()}


def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
    except psutil.Error:  # a backend that ended between listing and reading
        return 0.0
    return times.user + times.system


def ceiling(cpu: dict[str, float]) -> int:
    """Events/s the machine could sustain if every core did nothing but this at that CPU cost."""
    return round((os.cpu_count() or 1) * 1_000_000 / cpu["total_cpu_ms_per_1000"])


def embedded(engine, tenant: int, batches: list[list[dict]]) -> dict[str, Any]:
    latencies = []
    meter = CpuMeter(engine.dialect.name == "postgresql")
    meter.start()
    started = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        with engine.begin() as conn:
            ingest_events(conn, tenant, batch, ingested_at_micros=time.time_ns() // 1000)
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - started
    events = sum(map(len, batches))
    cpu = meter.stop(events)
    return {**_summary(events, seconds, latencies), "cpu": cpu, "cpu_ceiling_events_per_s": ceiling(cpu)}


def start_server(url: str, port: int, env_extra: dict[str, str], workers: int = 1) -> subprocess.Popen:
    env = {**os.environ, "INVOICEFLOW_API_RATE": "1000000", "INVOICEFLOW_API_BURST": "1000000", **env_extra}
    proc = subprocess.Popen([sys.executable, "-m", "invoiceflow.cli", "serve", "--port", str(port), "--database",
                             url, "--log-level", "warning", "--workers", str(workers)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the API server did not start")


def over_http(port: int, key: str, bodies: list[bytes], sizes: list[int], clients: int, keys: bool,
              meter: CpuMeter | None = None) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    base = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                headers = {**base, "Idempotency-Key": str(uuid.uuid4())} if keys else base
                t0 = time.perf_counter()
                response = http.post("/v1/usage-events/batch", content=bodies[i], headers=headers)
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code}: {response.text[:300]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    if meter is not None:
        meter.start()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} batches failed, e.g. {errors[0]}")
    summary = _summary(sum(sizes), seconds, latencies)
    if meter is not None:
        summary["cpu"] = meter.stop(sum(sizes))
        summary["cpu_ceiling_events_per_s"] = ceiling(summary["cpu"])
    return summary


def _summary(events: int, seconds: float, latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731 - nearest rank
    return {"events": events, "batches": len(latencies), "seconds": round(seconds, 3),
            "events_per_s": round(events / seconds), "p50_ms": round(pick(0.50) * 1000, 1),
            "p99_ms": round(pick(0.99) * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 1)}


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with core.Database(backend, args.database_url, workdir, "api") as db:
        core.log(f"{backend}: seeding {args.customers:,} customers")
        core.seed(db.engine, args.customers)
        with db.engine.begin() as conn:
            tenant = resolve_tenant(conn, core.TENANT)
            key = create_api_key(conn, tenant, member="bench", roles=["revops"], actor="bench",
                                 at=datetime.now(timezone.utc)).secret
        stream = core.usage_events(args.customers, 2 * args.events + args.warmup * args.batch_size, seed_value=7)

        def batches(n_events: int) -> list[list[dict]]:
            return [list(islice(stream, args.batch_size)) for _ in range(n_events // args.batch_size)]

        baseline_batches, warmup, measured = batches(args.events), batches(args.warmup * args.batch_size), \
            batches(args.events)
        core.log(f"{backend}: embedded baseline, {args.events:,} events in batches of {args.batch_size:,}")
        base = embedded(db.engine, tenant, baseline_batches)
        core.log(f"{backend}: embedded {base['events_per_s']:,} events/s")
        bodies = [orjson.dumps({"events": b}) for b in measured]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = start_server(db.url, port, {}, args.server_workers)
        try:
            over_http(port, key, [orjson.dumps({"events": b}) for b in warmup], [len(b) for b in warmup],
                      min(args.clients, 2), args.keys)
            load = os.getloadavg()[0]
            core.log(f"{backend}: HTTP, {args.events:,} events, {args.clients} clients")
            http = over_http(port, key, bodies, [len(b) for b in measured], args.clients, args.keys,
                             CpuMeter(backend == "postgres", server))
            http["load_1min"] = [load, os.getloadavg()[0]]
        finally:
            server.terminate()
            server.wait(timeout=30)
        with db.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(usage_events)
                                  .where(usage_events.c.tenant_id == tenant)).scalar_one()
        expected = args.events * 2 + len(warmup) * args.batch_size
        if stored != expected:
            raise RuntimeError(f"{stored} events stored, {expected} expected")
        core.log(f"{backend}: HTTP {http['events_per_s']:,} events/s, p50 {http['p50_ms']} ms, "
                 f"p99 {http['p99_ms']} ms ({http['events_per_s'] / base['events_per_s']:.2f}x embedded)")
        core.log(f"{backend}: CPU ms per 1,000 events: embedded {base['cpu']}, HTTP {http['cpu']}; "
                 f"ceilings {base['cpu_ceiling_events_per_s']:,} / {http['cpu_ceiling_events_per_s']:,} events/s")
        return {"embedded": base, "http": http, "ratio": round(http["events_per_s"] / base["events_per_s"], 2),
                "target_met": http["events_per_s"] >= TARGET}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=100_000, help="events per measured phase")
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--warmup", type=int, default=5, help="batches sent before measuring")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--no-idempotency-keys", dest="keys", action="store_false")
    parser.add_argument("--database-url", default=os.environ.get("INVOICEFLOW_TEST_POSTGRES_URL",
                                                                 "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--workdir", default="bench/.work")
    parser.add_argument("--json", dest="json_out", type=Path)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    summary = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "args": vars(args) | {
        "json_out": str(args.json_out)}, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                   "platform": platform.platform()}, "results": {}}
    for backend in backends:
        summary["results"][backend] = run_backend(backend, args)
    print(json.dumps(summary, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
