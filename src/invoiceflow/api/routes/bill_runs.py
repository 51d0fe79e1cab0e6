"""Bill runs: start one (202 Accepted, runs in the background) and follow its progress.

`run_bill_run` writes its `bill_runs` row in its first transaction and bills in batches after that. The
start endpoint runs it on a background thread, waits only for that row (tagged with a unique label), and
answers 202 with the run's URL. Progress (subscriptions done of total) is reported by the process running
the bill; the row's status and final statistics are in the database for everyone. A run interrupted by a
crash stays `running` in the table: starting the same bill run again finishes it (bill runs are resumable).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any, Literal

from fastapi import Depends, Query
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from invoiceflow.api.context import ApiContext
from invoiceflow.api.deps import Id, api_router, caller, ctx_of, not_found
from invoiceflow.api.pagination import Page, PageParams, fetch_page, page_of
from invoiceflow.api.permissions import allow
from invoiceflow.api.problems import ApiProblem
from invoiceflow.api.schemas.billing import BillRun, BillRunIn
from invoiceflow.billing.run import as_of_for_period, run_bill_run
from invoiceflow.store.db import reader
from invoiceflow.store.tables import bill_runs

router = api_router("bill runs")
_START_WAIT = 60.0


@router.post("/v1/bill-runs", response_model=BillRun, status_code=202, dependencies=[allow("bill_runs.write")],
             summary="Start a bill run")
def start_bill_run(body: BillRunIn, request: Request, response: Response) -> dict[str, Any]:
    """Bill every subscription due on or before `as_of` (or through `period`); poll the returned URL."""
    ctx, who = ctx_of(request), caller(request)
    as_of = body.as_of or as_of_for_period(body.period or "")
    label = body.label or f"api-{secrets.token_hex(6)}"
    job: dict[str, Any] = {"status": "running", "done": 0, "total": None, "error": None}
    with ctx.lock:  # one start at a time in this process: the next new row with our label is ours
        with ctx.engine.connect() as conn:
            before = conn.execute(select(func.coalesce(func.max(bill_runs.c.id), 0))).scalar_one()
        worker = threading.Thread(target=_run, args=(ctx, who.tenant, as_of, label, job), daemon=True,
                                  name=f"bill-run-{label}")
        worker.start()
        run_id = _wait_for_row(ctx, who.tenant_id, label, before, worker, job)
        ctx.jobs[run_id] = job
    response.headers["Location"] = f"/v1/bill-runs/{run_id}"
    return _shape(ctx, _row(ctx, who.tenant_id, run_id))


@router.get("/v1/bill-runs", response_model=Page[BillRun], dependencies=[allow("bill_runs.read")])
def list_bill_runs(request: Request, page: PageParams = Depends(),
                   status: Literal["running", "completed"] | None = Query(None)) -> dict[str, Any]:
    ctx = ctx_of(request)
    query = select(bill_runs).where(bill_runs.c.tenant_id == caller(request).tenant_id)
    if status:
        query = query.where(bill_runs.c.status == status)
    with reader(ctx.engine).connect() as conn:
        rows, cursor = fetch_page(conn, query, bill_runs.c.id, "bill_runs", page, newest_first=True)
    return page_of([_shape(ctx, r) for r in rows], cursor)


@router.get("/v1/bill-runs/{run_id}", response_model=BillRun, dependencies=[allow("bill_runs.read")],
            summary="A bill run's status and progress")
def get_bill_run(run_id: Id, request: Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    return _shape(ctx, _row(ctx, caller(request).tenant_id, run_id))


def _run(ctx: ApiContext, tenant: str, as_of, label: str, job: dict[str, Any]) -> None:
    def progress(done: int, total: int) -> None:
        job["done"], job["total"] = done, total

    try:
        run_bill_run(ctx.engine, as_of=as_of, tenant=tenant, label=label, clock=ctx.clock, on_progress=progress)
        job["status"] = "completed"
    except Exception as exc:  # noqa: BLE001 - reported on the status endpoint; the run can be restarted
        job["status"], job["error"] = "failed", f"{type(exc).__name__}: {exc}"


def _wait_for_row(ctx: ApiContext, tenant_id: int, label: str, before: int, worker: threading.Thread,
                  job: dict[str, Any]) -> int:
    deadline = time.monotonic() + _START_WAIT
    while True:
        with reader(ctx.engine).connect() as conn:
            found = conn.execute(select(bill_runs.c.id).where(bill_runs.c.tenant_id == tenant_id,
                                                              bill_runs.c.label == label, bill_runs.c.id > before)
                                 .order_by(bill_runs.c.id).limit(1)).scalar()
        if found is not None:
            return int(found)
        if not worker.is_alive() or time.monotonic() > deadline:
            raise ApiProblem(503, f"the bill run did not start: {job['error'] or 'timed out'}",
                             headers={"Retry-After": "5"})
        time.sleep(0.02)


def _row(ctx: ApiContext, tenant_id: int, run_id: int) -> dict[str, Any]:
    with reader(ctx.engine).connect() as conn:
        row = conn.execute(select(bill_runs).where(bill_runs.c.tenant_id == tenant_id, bill_runs.c.id == run_id)
                           ).mappings().first()
    if row is None:
        raise not_found("bill run", run_id)
    return dict(row)


def _shape(ctx: ApiContext, row: dict[str, Any]) -> dict[str, Any]:
    job = ctx.jobs.get(row["id"])
    out = {**row, "progress": None, "error": None}
    if job is not None and job["total"] is not None:
        out["progress"] = {"subscriptions_done": job["done"], "subscriptions_total": job["total"]}
    elif row["status"] == "completed" and row.get("stats"):
        done = int(row["stats"].get("subscriptions", 0))
        out["progress"] = {"subscriptions_done": done, "subscriptions_total": done}
    if job is not None and job["status"] == "failed" and row["status"] == "running":
        out["status"], out["error"] = "failed", job["error"]
    return out
