"""`invoiceflow release` and `invoiceflow review list|show|resolve|approve-override|assign|kpis`."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import typer
from rich.markup import escape
from rich.table import Table

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, reported_errors
from invoiceflow.review import (
    approve_override,
    assign_case,
    case_detail,
    list_cases,
    release_kpis,
    resolve_case,
)
from invoiceflow.review.resolve import ACTIONS, CaseOutcome
from invoiceflow.tax_providers import release_with_configured_tax

review_app = typer.Typer(help="Exception cases in role queues: list, show, resolve; release KPIs.",
                         no_args_is_help=True)
ActorOption = typer.Option(..., "--actor", envvar="INVOICEFLOW_ACTOR", help="Who acts; recorded in the audit log.")
JsonOption = typer.Option(False, "--json", help="Print JSON.")


def register(app: typer.Typer) -> None:
    app.command("release")(release_command)
    app.add_typer(review_app, name="review")


def release_command(actor: str = typer.Option("system", "--actor", help="Who runs the release pass."),
                    as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Validate every draft and held invoice under the current policy; route what is held, release the rest."""
    with reported_errors():
        report = release_with_configured_tax(open_engine(database), tenant, actor=actor)
        if as_json:
            print(json.dumps(report.as_dict(), indent=2))
            return
        print_release(report.as_dict())


def print_release(summary: dict) -> None:
    outcomes = summary["outcomes"]
    console.print(f"[bold]Release pass[/bold] under policy version {summary['policy_version']}: "
                  + ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())), highlight=False)
    console.print(f"cases opened {summary['cases_opened']}, joined {summary['cases_joined']}", highlight=False)


@review_app.command("list")
def review_list(queue: str = typer.Option(None, "--queue", help="finance, revops, tax, collections or support."),
                status: str = typer.Option("open", "--status", help="open, resolved or all."),
                as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Cases oldest first, with queue, priority, age, SLA and the invoices they hold."""
    with reported_errors():
        cases = list_cases(open_engine(database), tenant=tenant, queue=queue, status=status, now=_now())
        if as_json:
            print(json.dumps(cases, indent=2, default=str))
            return
        table = Table("id", "queue", "type", "priority", "status", "invoices", "age h", "due (UTC)", "assignee",
                      "title", title=f"Review cases ({queue or 'all queues'}, {status})")
        for c in cases:
            due = f"{c['due_at']:%Y-%m-%d %H:%M}" + (" [red]breached[/red]" if c["sla_breached"] else "")
            table.add_row(str(c["id"]), c["queue"], c["case_type"], c["priority"], c["status"], str(c["invoices"]),
                          str(c["age_hours"]), due, c["assignee"] or "-", escape(c["title"]))
        console.print(table)


@review_app.command("show")
def review_show(case_id: int = typer.Argument(..., help="Case id."), as_json: bool = JsonOption,
                database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """One case: its root cause, findings with suggested fixes, and the invoices it holds."""
    with reported_errors():
        case = case_detail(open_engine(database), case_id, tenant=tenant, now=_now())
        if as_json:
            print(json.dumps(case, indent=2, default=str))
            return
        console.print(f"[bold]case {case['id']}[/bold] {case['case_type']} in queue {case['queue']} "
                      f"({case['priority']}, {case['status']}), root cause {escape(case['root_cause'])}", highlight=False)
        console.print(f"opened {case['opened_at']:%Y-%m-%d %H:%M} UTC, due {case['due_at']:%Y-%m-%d %H:%M} UTC, "
                      f"age {case['age_hours']} h" + (", SLA breached" if case["sla_breached"] else ""),
                      highlight=False)
        if case["resolution"]:
            console.print(f"resolved by {case['resolved_by']}: {case['resolution']} - {escape(case['reason'] or '')}",
                          highlight=False)
        findings = Table("invoice", "code", "severity", "status", "where", "message", "suggested fix",
                         title="Findings")
        for f in case["findings"]:
            findings.add_row(str(f["invoice_id"] or "-"), f["code"], f["severity"], f["status"],
                             escape(f"{f['record']}.{f['field']}"), escape(f["message"]), escape(f["suggested_fix"]))
        console.print(findings)
        held = Table("invoice", "customer", "status", "total", "period", title="Invoices")
        for i in case["invoices"]:
            held.add_row(str(i["id"]), i["customer"], i["status"], f"{i['total']} {i['currency']}", str(i["period_start"]))
        console.print(held)


@review_app.command("resolve")
def review_resolve(case_id: int = typer.Argument(..., help="Case id."),
                   action: str = typer.Option(..., "--action", help=" | ".join(ACTIONS)),
                   reason: str = typer.Option(None, "--reason", help="Why (required)."),
                   to_queue: str = typer.Option(None, "--to-queue", help="With escalate: move to this queue."),
                   actor: str = ActorOption, as_json: bool = JsonOption, database: str = DatabaseOption,
                   tenant: str = TenantOption) -> None:
    """Re-validate after fixing the source data, override (a second person above the limit), void, escalate."""
    with reported_errors():
        _print_outcome(resolve_case(open_engine(database), tenant, case_id, action, actor=actor, reason=reason,
                                    to_queue=to_queue), as_json)


@review_app.command("approve-override")
def review_approve_override(case_id: int = typer.Argument(..., help="Case id."),
                            reason: str = typer.Option(None, "--reason", help="Note for the audit log."),
                            actor: str = ActorOption, as_json: bool = JsonOption, database: str = DatabaseOption,
                            tenant: str = TenantOption) -> None:
    """Second person's approval of an override above the policy's limit (not by whoever asked for it)."""
    with reported_errors():
        _print_outcome(approve_override(open_engine(database), tenant, case_id, actor=actor, reason=reason), as_json)


@review_app.command("assign")
def review_assign(case_id: int = typer.Argument(..., help="Case id."),
                  to: str = typer.Option(..., "--to", help="Assignee."), actor: str = ActorOption,
                  database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Assign a case to a person of its queue."""
    with reported_errors():
        assign_case(open_engine(database), tenant, case_id, assignee=to, actor=actor)
        console.print(f"case {case_id} assigned to {escape(to)}", highlight=False)


@review_app.command("kpis")
def review_kpis(as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Automation coverage, exception rates, queue ages and SLA breaches, manual touch and rework rates."""
    with reported_errors():
        kpis = release_kpis(open_engine(database), tenant=tenant, now=_now())
        if as_json:
            print(json.dumps(kpis, indent=2))
            return
        print_kpis(kpis)


def print_kpis(kpis: dict) -> None:
    head = Table("KPI", "value", title="Release KPIs")
    head.add_row("invoices validated", str(kpis["invoices_validated"]))
    head.add_row("invoices released", str(kpis["invoices_released"]))
    for name in ("automation_coverage", "manual_touch_rate", "rework_rate"):
        value = kpis[name]
        head.add_row(name.replace("_", " "), "-" if value is None else f"{value} %")
    for kind, rate in kpis["exception_rate_by_type"].items():
        head.add_row(f"exception rate: {kind}", f"{rate} %")
    console.print(head)
    queues = Table("queue", "open", "resolved", "SLA breached", "age p50 h", "age p90 h", "age max h",
                   title="Queues")
    for queue, q in kpis["queues"].items():
        queues.add_row(queue, str(q["open"]), str(q["resolved"]), str(q["sla_breached"]),
                       *(q[k] or "-" for k in ("age_hours_p50", "age_hours_p90", "age_hours_max")))
    console.print(queues)


def _print_outcome(outcome: CaseOutcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"case_id": outcome.case_id, "action": outcome.action, "status": outcome.status,
                          "message": outcome.message, "invoices": outcome.invoices,
                          "remaining": list(outcome.remaining)}, indent=2))
        return
    console.print(escape(outcome.message), highlight=False)
    for line in outcome.remaining:
        console.print(f"  [yellow]still open:[/yellow] {escape(line)}", highlight=False)


def _now() -> datetime:
    return SystemClock().now().astimezone(timezone.utc)
