"""`invoiceflow policy validate|apply|show|history` and `invoiceflow team set|list`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, reported_errors
from invoiceflow.policy.document import check_policy_text, default_source, read_policy
from invoiceflow.policy.store import apply_policy, policy_history
from invoiceflow.store.review_tables import policies
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import ROLES, require_role, set_member, team

policy_app = typer.Typer(help="Versioned release policies: gates, routing, SLAs, approval matrix.",
                         no_args_is_help=True)
team_app = typer.Typer(help="People and their roles (who may approve, resolve cases, change policy).",
                       no_args_is_help=True)
ActorOption = typer.Option(..., "--actor", envvar="INVOICEFLOW_ACTOR", help="Who acts; recorded in the audit log.")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
    app.add_typer(team_app, name="team")


@policy_app.command("validate")
def policy_validate(file: Path = typer.Argument(..., help="Policy YAML (schema: invoiceflow schema policy).")) -> None:
    """Check a policy file and explain every problem with its line; nothing is written."""
    with reported_errors():
        doc, _ = read_policy(file)
        console.print(f"{escape(str(file))}: valid ({len(doc['gates'])} gates, {len(doc['routing'])} routes, "
                      f"{len(doc['approvals']['rules'])} approval rules)", highlight=False)


@policy_app.command("apply")
def policy_apply(file: Path = typer.Argument(..., help="Policy YAML."), actor: str = ActorOption,
                 database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Store the file as the next policy version (the same content again changes nothing). Needs admin."""
    with reported_errors():
        _, source = read_policy(file)
        engine = open_engine(database)
        with engine.begin() as conn:
            tid = tenant_id(conn, tenant, create=False)
            require_role(conn, tid, actor, ("admin",), doing="apply a policy")
            applied = apply_policy(conn, tid, source, actor=actor, at=SystemClock().now(), name=str(file))
        state = "created" if applied.created else "unchanged (same content as the current version)"
        console.print(f"policy version {applied.version} {state}", highlight=False)
        for note in applied.warnings:
            console.print(f"  [yellow]note:[/yellow] {escape(note)}", highlight=False)


@policy_app.command("show")
def policy_show(version: int = typer.Option(None, "--version", help="Version (default: current; 0 = built-in)."),
                database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Print a policy version as YAML."""
    with reported_errors():
        with open_engine(database).connect() as conn:
            tid = tenant_id(conn, tenant, create=False)
            wanted = version if version is not None else (conn.execute(select(func.max(policies.c.version)).where(
                policies.c.tenant_id == tid)).scalar() or 0)
            source = default_source() if wanted == 0 else conn.execute(select(policies.c.source).where(
                policies.c.tenant_id == tid, policies.c.version == wanted)).scalar()
        if source is None:
            raise typer.BadParameter(f"policy version {wanted} does not exist")
        check_policy_text(source)
        print(f"# policy version {wanted}\n{source}", end="" if source.endswith("\n") else "\n")


@policy_app.command("history")
def policy_history_command(as_json: bool = typer.Option(False, "--json"), database: str = DatabaseOption,
                           tenant: str = TenantOption) -> None:
    """Every policy version: who applied it and when."""
    with reported_errors():
        with open_engine(database).connect() as conn:
            rows = policy_history(conn, tenant_id(conn, tenant, create=False))
        if as_json:
            print(json.dumps(rows, indent=2, default=str))
            return
        table = Table("version", "name", "applied by", "at (UTC)", "sha256")
        for r in rows:
            table.add_row(str(r["version"]), escape(r["name"] or ""), r["created_by"], f"{r['created_at']:%Y-%m-%d %H:%M}",
                          r["content_hash"][:12])
        console.print(table)


@team_app.command("set")
def team_set(name: str = typer.Argument(..., help="Member name (as used with --actor)."),
             role: list[str] = typer.Option([], "--role", help=f"Role, repeatable: {', '.join(ROLES)}."),
             actor: str = ActorOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Give a member exactly these roles (none removes them). The first admin may be set by anyone."""
    with reported_errors():
        engine = open_engine(database)
        with engine.begin() as conn:
            tid = tenant_id(conn, tenant)
            if team(conn, tid):
                require_role(conn, tid, actor, ("admin",), doing="change roles")
            roles = set_member(conn, tid, name, role, actor=actor, at=SystemClock().now())
        console.print(f"{escape(name)}: {', '.join(roles) or 'no role'}", highlight=False)


@team_app.command("list")
def team_list(database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Members and their roles."""
    with reported_errors():
        with open_engine(database).connect() as conn:
            members = team(conn, tenant_id(conn, tenant, create=False))
        table = Table("member", "roles")
        for name, roles in members:
            table.add_row(escape(name), ", ".join(roles))
        console.print(table)

