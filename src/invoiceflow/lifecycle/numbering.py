"""Gapless document numbers: per tenant, legal entity, series and year, assigned at issue.

Many jurisdictions require invoice numbers without gaps, so numbers cannot come from a database sequence
(a rolled-back transaction burns a sequence value). Instead one counter row per (tenant, legal entity,
series, year) is incremented by `UPDATE ... RETURNING` in the issuing transaction: the update holds the row
lock until commit (PostgreSQL; on SQLite the writer already holds the database lock), so concurrent issues
queue on it, and a rollback gives the number back. A number once committed is never reused: voiding an
issued document keeps its number, and a unique index on (tenant, legal entity, series, number) backs this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, update
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.store.tables import number_series

# The series each document type is numbered in; credit notes have their own sequence.
SERIES: dict[str, str] = {"invoice": "INV", "credit_note": "CN"}


@dataclass(frozen=True, slots=True)
class DocumentNumber:
    """A number as assigned: its series, year, position in the sequence and printed form."""

    series: str
    year: int
    sequence: int
    text: str


def series_for(document_type: str) -> str:
    """The number series of a document type (INV for invoices, CN for credit notes)."""
    try:
        return SERIES[document_type]
    except KeyError:
        raise ValueError(f"no number series for document type {document_type!r}") from None


def format_number(series: str, year: int, sequence: int) -> str:
    """`INV-2026-000123`: series, year of issue, sequence zero-padded to six digits (wider when needed)."""
    return f"{series}-{year}-{sequence:06d}"


def assign_number(conn: Connection, *, tenant_id: int, legal_entity_id: int, document_type: str,
                  issued_on: date) -> DocumentNumber:
    """Take the next number of the document's series for its legal entity and year, in the caller's transaction."""
    series, year = series_for(document_type), issued_on.year
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(number_series)
        .values(tenant_id=tenant_id, legal_entity_id=legal_entity_id, series=series, year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["tenant_id", "legal_entity_id", "series", "year"])
    )
    sequence = conn.execute(
        update(number_series)
        .where(number_series.c.tenant_id == tenant_id, number_series.c.legal_entity_id == legal_entity_id,
               number_series.c.series == series, number_series.c.year == year)
        .values(last_number=number_series.c.last_number + 1)
        .returning(number_series.c.last_number)
    ).scalar_one()
    return DocumentNumber(series, year, int(sequence), format_number(series, year, int(sequence)))
