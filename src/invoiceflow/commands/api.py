"""`invoiceflow serve`, `invoiceflow api-key create|list|revoke` and `invoiceflow oauth-client ...`.

Credentials are created from the command line, by whoever can reach the database: that is the root of
trust the API's own checks start from. A new key or client secret is printed once and never again.
"""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, err_console, reported_errors
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import ROLES

key_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
client_app = typer.Typer(help="OAuth2 clients (client credentials -> 15-minute JWTs).", no_args_is_help=True)
NameOption = typer.Option(..., "--name", help="The team member the credential acts as (its owner).")
RoleOption = typer.Option(..., "--role", help=f"Role the credential may use, repeatable: {', '.join(ROLES)}.")
LabelOption = typer.Option(None, "--label", help="A note to recognise the credential by.")
ActorOption = typer.Option("cli", "--actor", envvar="INVOICEFLOW_ACTOR",
                           help="Who creates it; recorded when the member is given the roles.")
JsonOption = typer.Option(False, "--json", help="Print JSON.")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(key_app, name="api-key")
    app.add_typer(client_app, name="oauth-client")


def serve(host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
          port: int = typer.Option(8000, "--port", help="TCP port."),
          log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
          workers: int = typer.Option(1, "--workers", min=1,
                                      help="Server processes (rate limits and bill-run progress are per process)."),
          database: str = DatabaseOption) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs) with uvicorn."""
    import os

    import uvicorn

    from invoiceflow.api import create_app

    with reported_errors():
        engine = open_engine(database)  # migrates once, before any worker starts
        if workers == 1:
            uvicorn.run(create_app(engine), host=host, port=port, log_level=log_level)
            return
        os.environ["INVOICEFLOW_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
        uvicorn.run("invoiceflow.api.app:create_app_from_env", factory=True, workers=workers, host=host, port=port,
                    log_level=log_level)


def _create(kind: str, name: str, role: list[str], label: str | None, actor: str, database: str | None,
            tenant: str, as_json: bool) -> None:
    from invoiceflow.api.credentials import create_api_key, create_oauth_client

    make = create_api_key if kind == "key" else create_oauth_client
    with reported_errors():
        with open_engine(database).begin() as conn:
            created = make(conn, tenant_id(conn, tenant), member=name, roles=role, actor=actor,
                           at=SystemClock().now(), label=label)
    if as_json:
        field = "key" if kind == "key" else "client_secret"
        print(json.dumps({"id": created.id, "name": created.name, field: created.secret, "member": created.member,
                          "roles": list(created.roles), "tenant": tenant}))
        return
    if kind == "key":
        console.print(f"API key {created.name} for {escape(name)} ({', '.join(created.roles)}), tenant {tenant}:",
                      highlight=False)
    else:
        console.print(f"OAuth client {created.name} for {escape(name)} ({', '.join(created.roles)}), tenant "
                      f"{tenant}; client secret:", highlight=False)
    print(created.secret)
    err_console.print("Store it now: it is shown only once (only a hash is kept).", highlight=False)


@key_app.command("create")
def key_create(name: str = NameOption, role: list[str] = RoleOption, label: str = LabelOption,
               actor: str = ActorOption, database: str = DatabaseOption, tenant: str = TenantOption,
               as_json: bool = JsonOption) -> None:
    """Create an API key for a member, scoped to roles (the member is given them); printed once."""
    _create("key", name, role, label, actor, database, tenant, as_json)


@client_app.command("create")
def client_create(name: str = NameOption, role: list[str] = RoleOption, label: str = LabelOption,
                  actor: str = ActorOption, database: str = DatabaseOption, tenant: str = TenantOption,
                  as_json: bool = JsonOption) -> None:
    """Create an OAuth2 client for a member, scoped to roles; the secret is printed once."""
    _create("client", name, role, label, actor, database, tenant, as_json)


def _list(clients: bool, database: str | None, tenant: str, as_json: bool) -> None:
    from invoiceflow.api.credentials import list_credentials

    with reported_errors():
        with open_engine(database).connect() as conn:
            rows = list_credentials(conn, tenant_id(conn, tenant, create=False), clients=clients)
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    table = Table("id", "client id" if clients else "key", "member", "roles", "label", "created (UTC)",
                  "last used (UTC)", "revoked (UTC)")
    for r in rows:
        table.add_row(str(r["id"]), r["name"], escape(r["member"]), ", ".join(r["roles"]), escape(r["label"] or ""),
                      f"{r['created_at']:%Y-%m-%d %H:%M}", _when(r["last_used_at"]), _when(r["revoked_at"]))
    console.print(table)


@key_app.command("list")
def key_list(database: str = DatabaseOption, tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Keys of the tenant with owner, roles, last use and revocation (never the key itself)."""
    _list(False, database, tenant, as_json)


@client_app.command("list")
def client_list(database: str = DatabaseOption, tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """OAuth clients of the tenant (never the secret)."""
    _list(True, database, tenant, as_json)


def _revoke(name: str, database: str | None, tenant: str) -> None:
    from invoiceflow.api.credentials import revoke

    with reported_errors():
        with open_engine(database).begin() as conn:
            changed = revoke(conn, tenant_id(conn, tenant, create=False), name, at=SystemClock().now())
    console.print(f"{escape(name)} revoked" if changed else f"{escape(name)} was already revoked; nothing changed",
                  highlight=False)


@key_app.command("revoke")
def key_revoke(key: str = typer.Argument(..., help="The key's ifk_<prefix> (as listed)."),
               database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Revoke a key: the next request with it is refused."""
    _revoke(key, database, tenant)


@client_app.command("revoke")
def client_revoke(client_id: str = typer.Argument(..., help="The client id (ifc_...)."),
                  database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Revoke an OAuth client: its tokens stop working at once."""
    _revoke(client_id, database, tenant)


def _when(at) -> str:
    return "-" if at is None else f"{at:%Y-%m-%d %H:%M}"
