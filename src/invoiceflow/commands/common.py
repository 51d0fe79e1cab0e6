"""Options and error reporting shared by every command."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from invoiceflow.errors import InvoiceflowError, ValidationError

console = Console()
err_console = Console(stderr=True)

DatabaseOption = typer.Option(
    None, "--database", envvar="INVOICEFLOW_DATABASE_URL", help="Database URL (default: sqlite:///invoiceflow.db)."
)
TenantOption = typer.Option("default", "--tenant", envvar="INVOICEFLOW_TENANT", help="Tenant code.")


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn product errors into readable messages and exit codes (2 = bad input, 1 = other failure)."""
    try:
        yield
    except ValidationError as exc:
        for problem in exc.problems:
            err_console.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except InvoiceflowError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
