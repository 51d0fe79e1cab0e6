"""`invoiceflow audit verify` and `invoiceflow audit list`: check and read the hash-chained audit log."""

from __future__ import annotations

import json
import sys

import typer
from rich.markup import escape
from rich.table import Table

from invoiceflow.audit.log import canonical_json, canonical_time, read_entries
from invoiceflow.audit.verify import VerifyReport, verify_all, verify_audit_log
from invoiceflow.bootstrap import open_engine
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, err_console, reported_errors
from invoiceflow.errors import ValidationError
from invoiceflow.store.db import reader
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

audit_app = typer.Typer(help="Verify and read the tamper-evident audit log.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    all_tenants: bool = typer.Option(False, "--all-tenants", help="Verify every tenant's chain."),
    as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON."),
    database: str = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """Re-walk the hash chain: print OK with the entry count, or each problem (exit 1)."""
    with reported_errors():
        engine = open_engine(database)
        reports = verify_all(engine) if all_tenants else [verify_audit_log(engine, tenant=tenant)]
        if as_json:
            print(json.dumps([_as_dict(r) for r in reports], indent=2))
        else:
            for report in reports:
                _print(report)
        if not all(r.ok for r in reports):
            sys.exit(1)


def _print(report: VerifyReport) -> None:
    if report.ok:
        console.print(f"OK: tenant {report.tenant}: {report.entries} entries, chain intact "
                      f"(head {report.head_hash})", highlight=False)
        return
    err_console.print(f"[red]TAMPERED:[/red] tenant {escape(report.tenant)}: {len(report.problems)} problem(s) in "
                      f"{report.entries} entries", highlight=False)
    for problem in report.problems:
        err_console.print(f"  {escape(str(problem))}", highlight=False, soft_wrap=True)


def _as_dict(report: VerifyReport) -> dict:
    return {"tenant": report.tenant, "ok": report.ok, "entries": report.entries, "head_hash": report.head_hash,
            "problems": [{"sequence": p.sequence, "kind": p.kind, "message": p.message} for p in report.problems]}


@audit_app.command("list")
def list_entries(
    object_ref: str = typer.Option(None, "--object", help="Only entries about one object, TYPE:ID (invoice:12)."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show the last N entries."),
    as_json: bool = typer.Option(False, "--json"),
    database: str = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """Show the latest audit entries, oldest first."""
    with reported_errors():
        object_type = object_id = None
        if object_ref:
            object_type, sep, object_id = object_ref.partition(":")
            if not sep or not object_type or not object_id:
                raise ValidationError(f"{object_ref!r} is not TYPE:ID (e.g. invoice:12)", field="object")
        with reader(open_engine(database)).connect() as conn:
            tid = resolve_tenant(conn, tenant, create=False)
            entries = list(read_entries(conn, tid, object_type=object_type, object_id=object_id, last=limit))
        if as_json:
            print(json.dumps([{"sequence": e.sequence, "at": canonical_time(e.at), "actor": e.actor,
                               "action": e.action, "object": f"{e.object_type}:{e.object_id}",
                               "payload": e.payload, "hash": e.hash} for e in entries], indent=2))
            return
        table = Table("#", "at (UTC)", "actor", "action", "object", "payload")
        for e in entries:
            table.add_row(str(e.sequence), canonical_time(e.at), e.actor, e.action, f"{e.object_type}:{e.object_id}",
                          escape(canonical_json(e.payload)))
        console.print(table)
