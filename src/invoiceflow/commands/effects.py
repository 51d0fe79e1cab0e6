"""`invoiceflow worker` and `invoiceflow effects list|show|retry|replay|run`.

Handlers are code, not configuration. Both runners load every built-in kind (ERP postings, e-mail,
webhook deliveries); `--handlers` (or INVOICEFLOW_EFFECT_HANDLERS) adds modules whose import registers
more. An effect whose kind has no handler in a process stays pending for one that has.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, err_console, reported_errors
from invoiceflow.effects.handlers import HandlerRegistry, load_handlers
from invoiceflow.effects.model import STATUSES
from invoiceflow.effects.operations import replay_effect, retry_effect
from invoiceflow.effects.outbox import get_effect, list_attempts, list_effects
from invoiceflow.effects.runner import InlineRunner, sweep
from invoiceflow.effects.worker import WorkerContext, run_inline_worker, run_procrastinate_worker
from invoiceflow.store.db import reader
from invoiceflow.store.tenancy import tenant_id

effects_app = typer.Typer(help="The effects outbox: list, show, retry, replay and run external side effects.",
                          no_args_is_help=True)
JsonOption = typer.Option(False, "--json", help="Print JSON.")
ActorOption = typer.Option(..., "--actor", envvar="INVOICEFLOW_ACTOR", help="Who acts; recorded in the audit log.")
HandlersOption = typer.Option(
    None, "--handlers", envvar="INVOICEFLOW_EFFECT_HANDLERS",
    help="Module whose import registers more effect handlers, beside the built-in ones (repeat the option or "
         "separate with commas).")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.add_typer(effects_app, name="effects")


def worker_command(concurrency: int = typer.Option(1, "--concurrency", min=1, help="Effects run at once."),
                   once: bool = typer.Option(False, "--once", help="Run what is due, then exit."),
                   handlers: Optional[list[str]] = HandlersOption, database: str = DatabaseOption) -> None:
    """Run effects in the background: procrastinate on PostgreSQL, an inline polling loop on SQLite."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with reported_errors():
        engine = open_engine(database)
        ctx = WorkerContext(engine=engine, clock=SystemClock(), handlers=_load_handlers(handlers))
        err_console.print("effect kinds: " + ", ".join(sorted(ctx.handlers.kinds())), highlight=False)
        if engine.dialect.name == "postgresql":
            err_console.print(f"procrastinate worker on PostgreSQL, concurrency {concurrency}"
                              + (", until idle" if once else ""), highlight=False)
            run_procrastinate_worker(ctx, concurrency=concurrency, once=once)
            return
        err_console.print("SQLite: procrastinate needs PostgreSQL, so this worker runs the inline runner loop "
                          f"(concurrency {concurrency}; run one worker per database file)", highlight=False)
        totals = run_inline_worker(ctx, concurrency=concurrency, once=once)
        if once:
            _print_report(totals, as_json=False)


@effects_app.command("list")
def effects_list(status: str = typer.Option(None, "--status", help=" | ".join(STATUSES)),
                 kind: str = typer.Option(None, "--kind", help="Effect kind, e.g. erp.post."),
                 limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
                 as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Effects newest first, with status, attempts, next attempt and last error."""
    with reported_errors():
        with reader(open_engine(database)).connect() as conn:
            found = list_effects(conn, tenant_id(conn, tenant, create=False), status=status, kind=kind, limit=limit)
        if as_json:
            print(json.dumps([_plain(e.as_dict()) for e in found], indent=2))
            return
        table = Table("id", "kind", "target", "status", "attempts", "next attempt (UTC)", "ordering key",
                      "idempotency key", "last error", title=f"Effects ({status or 'all'})", title_justify="left")
        for e in found:
            table.add_row(str(e.id), escape(e.kind), escape(e.target), e.status, f"{e.attempts}/{e.max_attempts}",
                          f"{e.next_attempt_at:%Y-%m-%d %H:%M:%S}" if e.status == "pending" else "-",
                          escape(e.ordering_key or "-"), escape(e.idempotency_key), escape(_short(e.last_error)))
        console.print(table)


@effects_app.command("show")
def effects_show(effect_id: int = typer.Argument(..., help="Effect id."), as_json: bool = JsonOption,
                 database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """One effect with its payload, result and every attempt."""
    with reported_errors():
        with reader(open_engine(database)).connect() as conn:
            tid = tenant_id(conn, tenant, create=False)
            effect, attempts = get_effect(conn, tid, effect_id), list_attempts(conn, tid, effect_id)
        if as_json:
            print(json.dumps(_plain({**effect.as_dict(), "attempt_log": [a.as_dict() for a in attempts]}), indent=2))
            return
        console.print(f"[bold]effect {effect.id}[/bold] {escape(effect.kind)} to {escape(effect.target)}: "
                      f"{effect.status}, attempt {effect.attempts} of {effect.max_attempts}", highlight=False)
        console.print(f"idempotency key {escape(effect.idempotency_key)}, ordering key "
                      f"{escape(effect.ordering_key or '-')}, created {effect.created_at:%Y-%m-%d %H:%M:%S} UTC",
                      highlight=False)
        if effect.status == "pending":
            console.print(f"next attempt {effect.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC", highlight=False)
        if effect.status == "running":
            console.print(f"held by {escape(effect.locked_by or '')} until {effect.locked_until:%Y-%m-%d %H:%M:%S} UTC",
                          highlight=False)
        if effect.last_error:
            console.print(f"[red]last error:[/red] {escape(effect.last_error)}", highlight=False)
        console.print("payload: " + escape(json.dumps(effect.payload, sort_keys=True)), highlight=False)
        if effect.result is not None:
            console.print("result: " + escape(json.dumps(effect.result, sort_keys=True)), highlight=False)
        table = Table("attempt", "worker", "started (UTC)", "finished (UTC)", "outcome", "error", title="Attempts",
                      title_justify="left")
        for a in attempts:
            table.add_row(str(a.attempt), escape(a.worker), f"{a.started_at:%Y-%m-%d %H:%M:%S}",
                          f"{a.finished_at:%Y-%m-%d %H:%M:%S}", a.outcome, escape(a.error or ""))
        console.print(table)


@effects_app.command("retry")
def effects_retry(effect_id: int = typer.Argument(..., help="Effect id."), actor: str = ActorOption,
                  database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Make a dead or pending effect due now; its attempts are kept (a dead one gets one more try)."""
    with reported_errors():
        with open_engine(database).begin() as conn:
            effect = retry_effect(conn, tenant_id(conn, tenant, create=False), effect_id, at=_now(), actor=actor)
        console.print(f"effect {effect.id} ({escape(effect.kind)}) is due now, after {effect.attempts} attempts",
                      highlight=False)


@effects_app.command("replay")
def effects_replay(effect_id: int = typer.Argument(..., help="Effect id."),
                   force: bool = typer.Option(False, "--force", help="Also replay an effect that succeeded."),
                   actor: str = ActorOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Run a dead (or, with --force, succeeded) effect again from a fresh attempt count."""
    with reported_errors():
        with open_engine(database).begin() as conn:
            effect = replay_effect(conn, tenant_id(conn, tenant, create=False), effect_id, at=_now(), actor=actor,
                                   force=force)
        console.print(f"effect {effect.id} ({escape(effect.kind)}) will run again from attempt 1", highlight=False)


@effects_app.command("run")
def effects_run(handlers: Optional[list[str]] = HandlersOption, as_json: bool = JsonOption,
                database: str = DatabaseOption) -> None:
    """Recover effects of dead workers, then run everything due now in this process (every tenant)."""
    with reported_errors():
        engine = open_engine(database)
        registry = _load_handlers(handlers)
        clock = SystemClock()
        swept = sweep(engine, clock.now())
        report = InlineRunner().run_until_idle(engine, clock=clock, handlers=registry)
        _print_report({**report.as_dict(), "recovered": len(swept.recovered),
                       "dead_lettered_lost": len(swept.dead_lettered)}, as_json)


def _load_handlers(modules: list[str] | None) -> HandlerRegistry:
    """The built-in handlers and those of the --handlers modules (each option value may list several)."""
    return load_handlers(name for value in modules or [] for name in value.split(","))


def _print_report(report: dict[str, int], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console.print(", ".join(f"{value} {key.replace('_', ' ')}" for key, value in report.items()), highlight=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _now() -> datetime:
    return SystemClock().now()
