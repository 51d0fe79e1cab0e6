"""Bulk inserts straight to the driver: the hot write path of bill runs.

SQLAlchemy processes every bound value of every row in Python, which for hundreds of thousands of invoice
lines costs more than the database itself. Here each column's encoder is chosen once from its type, rows
become tuples, and the driver's executemany does the rest. Values encode exactly as the column types would.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

import orjson
from sqlalchemy import Connection, Date, Table

from invoiceflow.store.types import ExactDecimal, JSONText, _default


def _identity(value: Any) -> Any:
    return value


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=_default, option=orjson.OPT_SORT_KEYS).decode()


def _date_text(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _encoder(column_type: Any, sqlite: bool) -> Callable[[Any], Any]:
    if isinstance(column_type, JSONText):
        return _json_text
    if sqlite and isinstance(column_type, ExactDecimal):
        return _decimal_text
    if sqlite and isinstance(column_type, Date):
        return _date_text
    return _identity


def bulk_insert(conn: Connection, table: Table, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """INSERT every row (only `columns`) in one executemany; returns the number of rows sent."""
    sqlite = conn.dialect.name == "sqlite"
    encoders = [_encoder(table.c[name].type, sqlite) for name in columns]
    data = [tuple(encode(row.get(name)) for encode, name in zip(encoders, columns)) for row in rows]
    if not data:
        return 0
    marks = ", ".join(["?" if sqlite else "%s"] * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", data)
    return len(data)
