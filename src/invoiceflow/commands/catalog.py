"""`invoiceflow apply`: declarative catalog, customers, contracts and subscriptions."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer
from rich.table import Table

from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, reported_errors
from invoiceflow.errors import ValidationError
from invoiceflow.store.tenancy import tenant_id


SCHEMAS = {"catalog": "catalog.schema.json", "price": "price.schema.json", "policy": "policy.schema.json"}


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema_command(name: str = typer.Argument("catalog", help="catalog, price or policy")) -> None:
        """Print a published JSON Schema (the apply document or a price)."""
        with reported_errors():
            if name not in SCHEMAS:
                raise ValidationError(f"unknown schema {name!r} (choose from: {', '.join(SCHEMAS)})", field="name")
            print(resources.files("invoiceflow.schemas").joinpath(SCHEMAS[name]).read_text())

    @app.command("apply")
    def apply_command(
        file: Path = typer.Argument(..., help="YAML or JSON document (schema: invoiceflow/schemas/catalog.schema.json)."),
        database: str = DatabaseOption,
        tenant: str = TenantOption,
        dry_run: bool = typer.Option(False, "--dry-run", help="Check and report, write nothing."),
    ) -> None:
        """Create or update catalog, customers, contracts and subscriptions from FILE (idempotent, all-or-nothing)."""
        with reported_errors():
            doc = load_document(file)
            engine = open_engine(database)
            with engine.connect() as conn:
                with conn.begin() as tx:
                    report = apply_document(conn, tenant_id(conn, doc.get("tenant", tenant)), doc)
                    if dry_run:
                        tx.rollback()
            table = Table("kind", "created", "updated", "unchanged", title=f"apply {file.name}" + (" (dry run)" if dry_run else ""))
            for kind, created, updated, unchanged in report.rows():
                table.add_row(kind, str(created), str(updated), str(unchanged))
            console.print(table)
            if not report.changed:
                console.print("nothing changed")
