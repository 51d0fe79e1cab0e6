"""Scale-out benchmark: one bill run on PostgreSQL by 1 vs 2 `invoiceflow worker` processes, against the
in-process `invoiceflow bill-run` as the baseline, on identical data.

    .venv/bin/python bench/scaleout.py                       # 20k customers, 2M events, each mode once
    .venv/bin/python bench/scaleout.py --repeat 2 --json bench/results/scaleout.json

1. prepare  once, with bench/core.py's generator: seed N customers, close September, ingest October's events,
            VACUUM ANALYZE, install procrastinate's schema. This database is the template of every run.
2. runs     per mode, on a fresh clone (CREATE DATABASE ... TEMPLATE), so every run starts from the same data:
            - baseline: `invoiceflow bill-run --as-of 2026-11-01` in a fresh interpreter (core.py's measure);
            - workers=N: N `invoiceflow worker` processes are started and idle first (a deployed pool), then
              the clock runs from launching `invoiceflow bill-run --distributed` until the run's row says
              completed (polled every 0.1 s).
            Modes are interleaved when repeated, so drift in machine load spreads over all of them.
3. report   wall time, documents/s, ratios (2 workers / 1 worker, each / baseline), CPU used during the run by
            the bill-run processes (client), by the server sessions on the run's database, by the whole server
            (shared with other users) and by the machine, and whether every run wrote the same totals.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import core
from invoiceflow.effects.jobs import install_procrastinate

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int], *, reaped: bool = False) -> float:
    """utime + stime of live processes (0 for those gone); with `reaped`, plus that of their reaped children."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return total / CLK_TCK


def postgres_cpu() -> float:
    """CPU seconds of the whole PostgreSQL server so far, other users' sessions included: every live postgres
    process, plus the backends that ended (the postmaster reaps them, so their time is its children's time)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return cpu_seconds(pids, reaped=True)


class SessionCpu(threading.Thread):
    """CPU seconds of the server sessions on one database, sampled every 0.2 s from /proc.

    The PostgreSQL server is shared with other users of the machine; only sessions on the run's own database
    are counted (not the shared WAL writer or checkpointer). A session's last <0.2 s before it ends is missed.
    """

    def __init__(self, engine):
        super().__init__(daemon=True)
        self.engine, self.stop, self.first, self.last = engine, threading.Event(), {}, {}
        self.conn = engine.connect()
        self._sample(initial=True)  # sessions already there (idle workers) count from now, new ones from zero

    def _sample(self, *, initial: bool = False) -> None:
        pids = self.conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND pid <> pg_backend_pid()")).scalars().all()
        self.conn.rollback()
        for pid in pids:
            cpu = cpu_seconds([pid])
            self.first.setdefault(pid, cpu if initial else 0.0)
            self.last[pid] = max(cpu, self.last.get(pid, 0.0))

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self._sample()

    def finish(self) -> float:
        self.stop.set()
        self.join()
        self._sample()
        self.conn.close()
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


class Clone:
    """A fresh copy of the prepared template database for one run, dropped afterwards."""

    def __init__(self, admin_url: str, template: str, label: str):
        self.admin_url, self.template = admin_url, template
        self.name = f"{template}_{label}"
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def __enter__(self) -> "Clone":
        started = time.perf_counter()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}"',
                    f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"')
        self.clone_seconds = time.perf_counter() - started
        self.engine = create_engine(self.url)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.engine.dispose()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, *statements: str) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
        admin.dispose()


def baseline(clone: Clone, workdir: Path) -> dict[str, Any]:
    sessions = SessionCpu(clone.engine)
    pg_before, busy_before = postgres_cpu(), machine_busy()
    sessions.start()
    result = core.bill_run_subprocess(clone.url, workdir)
    result.update(_cpu_since(pg_before, busy_before, sessions))
    result.update(core.bill_run_written(clone.engine, result["report"]["bill_run_id"]))
    result["client_cpu_seconds"] = result["user_cpu_seconds"] + result["system_cpu_seconds"]
    result["documents"] = result["report"]["invoices"] + result["report"]["credit_notes"]
    result["totals"] = result.pop("report")["totals"]
    return result


def distributed(clone: Clone, workdir: Path, n: int, batch_size: int) -> dict[str, Any]:
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": clone.url}
    workers, logs, peaks = [], [], []
    for i in range(n):
        peaks.append(workdir / f"worker-{os.getpid()}-{i}.peak")
        logs.append(open(workdir / f"worker-{os.getpid()}-{i}.log", "w"))
        workers.append(subprocess.Popen([sys.executable, "-c", core._CHILD, "worker"], stdout=logs[-1],
                                        stderr=logs[-1], env={**env, "BENCH_PEAK_RSS_FILE": str(peaks[-1])}))
    try:
        deadline = time.monotonic() + 120
        while _scalar(clone, "SELECT count(*) FROM procrastinate_workers") < n:
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise SystemExit(f"workers did not start; see {workdir}/worker-*.log")
            time.sleep(0.2)
        worker_cpu_before = cpu_seconds([w.pid for w in workers])
        sessions = SessionCpu(clone.engine)
        pg_before, busy_before, load_before = postgres_cpu(), machine_busy(), os.getloadavg()[0]
        sessions.start()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        coordinator = subprocess.run(
            [sys.executable, "-m", "invoiceflow.cli", "bill-run", "--as-of", core.AS_OF.isoformat(), "--tenant",
             core.TENANT, "--distributed", "--batch-size", str(batch_size), "--json"],
            env=env, capture_output=True, text=True, check=True)
        coordinator_seconds = time.perf_counter() - started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        coordinator_cpu = (children.ru_utime + children.ru_stime
                           - children_before.ru_utime - children_before.ru_stime)
        run = json.loads(coordinator.stdout)
        while _scalar(clone, "SELECT status FROM bill_runs WHERE id = :r", r=run["bill_run_id"]) != "completed":
            if any(w.poll() is not None for w in workers):
                raise SystemExit(f"a worker exited; see {workdir}/worker-*.log")
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        worker_cpu = cpu_seconds([w.pid for w in workers]) - worker_cpu_before
        result = {"wall_seconds": seconds, "coordinator_seconds": coordinator_seconds, "batches": run["batches"],
                  "coordinator_cpu_seconds": coordinator_cpu, "worker_cpu_seconds": worker_cpu,
                  "client_cpu_seconds": worker_cpu + coordinator_cpu, "load_1min": [load_before, os.getloadavg()[0]],
                  **_cpu_since(pg_before, busy_before, sessions)}
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w, log in zip(workers, logs):
            w.wait(timeout=60)
            log.close()
    result["peak_rss_mib"] = [int(p.read_text()) / 1024 for p in peaks if p.exists()]
    for p in [*peaks, *(Path(log.name) for log in logs)]:  # logs are kept only when a run fails
        p.unlink(missing_ok=True)
    with clone.engine.connect() as conn:
        stats = conn.execute(text("SELECT stats FROM bill_runs WHERE id = :r"), {"r": run["bill_run_id"]}).scalar_one()
    stats = json.loads(stats)
    result.update(core.bill_run_written(clone.engine, run["bill_run_id"]))
    result.update(documents=stats["invoices"] + stats["credit_notes"], totals=stats["totals"],
                  batches_per_worker=sorted(stats["workers"].values()), failures=len(stats["failures"]))
    return result


def _cpu_since(pg_before: float, busy_before: tuple[float, float], sessions: SessionCpu) -> dict[str, float]:
    pg_after, (busy, total) = postgres_cpu(), machine_busy()
    return {"session_cpu_seconds": sessions.finish(), "postgres_server_cpu_seconds": pg_after - pg_before,
            "machine_busy_fraction": (busy - busy_before[0]) / (total - busy_before[1])}


def _scalar(clone: Clone, sql: str, **params: Any) -> Any:
    with clone.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (comma separated)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode, interleaved")
    parser.add_argument("--database-url", default=os.environ.get("INVOICEFLOW_TEST_POSTGRES_URL", core.DEFAULT_PG),
                        help="PostgreSQL server to create the scratch databases on")
    parser.add_argument("--workdir", type=Path, default=Path("bench/.work"))
    parser.add_argument("--json", dest="json_out", type=Path, help="write the results as JSON here")
    parser.add_argument("--quiet-load", type=float, default=None,
                        help="before each measured run, wait (up to --quiet-timeout s) for the 1-minute load to drop "
                             "below this; the machine is shared")
    parser.add_argument("--quiet-timeout", type=float, default=900)
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    modes = ["baseline", *(f"workers={n}" for n in (int(x) for x in args.workers.split(",")))]
    summary: dict[str, Any] = {
        "date": date.today().isoformat(), "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": core.machine(argparse.Namespace(backend="postgres", database_url=args.database_url)),
        "customers": args.customers, "events": args.events, "batch_size": args.batch_size, "runs": [],
    }
    with core.Database("postgres", args.database_url, args.workdir, "scaleout") as db:
        summary["prepare"] = core.prepare(db, args.customers, args.events, 1_000_000, verify=False)
        install_procrastinate(db.engine)
        summary["database_mib"] = db.size_mib()
        db.engine.dispose()  # a template database must have no sessions
        for r in range(args.repeat):
            for mode in modes:
                with Clone(args.database_url, db.name, f"{r}_{mode.replace('=', '')}") as clone:
                    waited = wait_for_quiet(args.quiet_load, args.quiet_timeout)
                    core.log(f"{mode} (run {r + 1}/{args.repeat}), clone in {clone.clone_seconds:.1f} s")
                    result = (baseline(clone, args.workdir) if mode == "baseline"
                              else distributed(clone, args.workdir, int(mode.split("=")[1]), args.batch_size))
                result.update(mode=mode, repeat=r, clone_seconds=clone.clone_seconds, waited_for_quiet_s=waited,
                              documents_per_s=result["documents"] / result["wall_seconds"])
                core.log(f"  {result['wall_seconds']:.1f} s, {result['documents_per_s']:,.0f} documents/s, "
                         f"machine busy {result['machine_busy_fraction']:.0%}")
                summary["runs"].append(result)
    summary["summary"] = summarise(summary["runs"], modes)
    print_summary(summary)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def wait_for_quiet(threshold: float | None, timeout: float) -> float:
    """Seconds waited for the 1-minute load average to fall below `threshold` (none: no wait)."""
    started = time.monotonic()
    if threshold is None:
        return 0.0
    while os.getloadavg()[0] >= threshold and time.monotonic() - started < timeout:
        time.sleep(5)
    if os.getloadavg()[0] >= threshold:
        core.log(f"  load still {os.getloadavg()[0]:.2f} after {timeout:.0f} s: measuring anyway")
    return time.monotonic() - started


def summarise(runs: list[dict[str, Any]], modes: list[str]) -> dict[str, Any]:
    """Best (lowest) wall time per mode, its ratios, and whether every run wrote the same totals."""
    best = {m: min((r for r in runs if r["mode"] == m), key=lambda r: r["wall_seconds"]) for m in modes}
    out: dict[str, Any] = {"same_totals_everywhere": all(r["totals"] == runs[0]["totals"] for r in runs)}
    for m, r in best.items():
        out[m] = {"wall_seconds": r["wall_seconds"], "documents_per_s": r["documents_per_s"],
                  "all_wall_seconds": [x["wall_seconds"] for x in runs if x["mode"] == m],
                  "speedup_vs_baseline": best["baseline"]["wall_seconds"] / r["wall_seconds"]}
    if "workers=1" in best and "workers=2" in best:
        out["speedup_2_vs_1_workers"] = best["workers=1"]["wall_seconds"] / best["workers=2"]["wall_seconds"]
    return out


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\n{summary['customers']:,} customers, {summary['events']:,} events, batch size {summary['batch_size']}")
    print(f"{'mode':<11} {'wall s':>7} {'docs/s':>7} {'client CPU s':>12} {'session CPU s':>13} "
          f"{'server CPU s':>12} {'busy':>5} {'load':>11}")
    for r in summary["runs"]:
        print(f"{r['mode']:<11} {r['wall_seconds']:7.1f} {r['documents_per_s']:7.0f} {r['client_cpu_seconds']:12.1f} "
              f"{r['session_cpu_seconds']:13.1f} {r['postgres_server_cpu_seconds']:12.1f} "
              f"{r['machine_busy_fraction']:5.0%} "
              f"{r['load_1min'][0]:5.2f}-{r['load_1min'][1]:.2f}")
    for key, value in summary["summary"].items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
