"""`invoiceflow ingest FILE`: load a CSV or NDJSON usage file, all of it or none of it.

The whole file is ingested in one transaction. If any line is bad, every problem is printed with its line
number (exit code 2) and nothing is written, so the corrected file can simply be sent again; events that
were already ingested are recognised by transaction id and ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, err_console, reported_errors
from invoiceflow.metering.files import read_events
from invoiceflow.metering.ingest import IngestReport, ingest_records
from invoiceflow.rating.periods import to_epoch_micros
from invoiceflow.store.tenancy import tenant_id


def ingest_command(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="Usage events: .csv, .ndjson or .jsonl.", exists=True, dir_okay=False, readable=True
        ),
    ],
    fmt: Annotated[
        Optional[str], typer.Option("--format", help="csv or ndjson (default: from the file extension).")
    ] = None,
    database: Optional[str] = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """Ingest usage events from FILE; duplicates are ignored, and a file with any bad line writes nothing."""
    with reported_errors():
        report = ingest_file(file, fmt=fmt, database=database, tenant=tenant)
        console.print(summary(report))


def ingest_file(
    file: Path, *, fmt: str | None, database: str | None, tenant: str, clock: Clock | None = None
) -> IngestReport:
    """Read, validate and store FILE in one transaction, showing progress by bytes read on stderr."""
    events = read_events(file, fmt)
    engine = open_engine(database)
    ingested_at = to_epoch_micros((clock or SystemClock()).now())
    columns = (TextColumn("ingesting {task.fields[name]}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("ingest", total=events.size or None, name=file.name)

        def advance(_received: int) -> None:
            progress.update(task, completed=events.bytes_read)

        with engine.begin() as conn:
            return ingest_records(
                conn, tenant_id(conn, tenant, create=False), events, ingested_at_micros=ingested_at,
                on_progress=advance,
            )  # fmt: skip


def summary(report: IngestReport) -> Table:
    table = Table(title="Usage ingested", show_header=True, header_style="bold")
    table.add_column("", style="bold")
    table.add_column("events", justify="right")
    table.add_row("received", f"{report.received:,}")
    table.add_row("inserted", f"{report.inserted:,}")
    table.add_row("duplicates ignored", f"{report.duplicates:,}")
    late = f"{report.late:,}"
    if report.late_samples:
        late += f" (e.g. {', '.join(report.late_samples)})"
    table.add_row("late events", late)
    if report.parked:
        accounts = ", ".join(f"{a} ({n})" for a, n in list(report.parked_accounts.items())[:5])
        table.add_row("parked: unmapped account ids", f"{report.parked:,} ({accounts})")
    for meter, count in report.by_meter.items():
        table.add_row(f"  {meter}", f"{count:,}")
    return table


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
