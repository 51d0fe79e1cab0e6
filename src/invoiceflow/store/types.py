"""Column types that keep money exact on every backend.

SQLite has no decimal type (SQLAlchemy's Numeric would go through float there), so decimals are stored as
canonical text on SQLite and as NUMERIC on PostgreSQL; both come back as `Decimal`.
"""

from __future__ import annotations

import orjson
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String, Text
from sqlalchemy.types import TypeDecorator


class ExactDecimal(TypeDecorator):
    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            # unconstrained NUMERIC keeps each value's own scale: 40.90 reads back as 40.90
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Any, dialect):
        if value is None:
            return None
        if not isinstance(value, Decimal):
            if isinstance(value, float):
                raise TypeError("float given for an exact decimal column")
            value = Decimal(value)
        if dialect.name == "postgresql":
            return value
        return format(value, "f")

    def process_result_value(self, value: Any, dialect):
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


class JSONText(TypeDecorator):
    """JSON stored as text on both backends; decimals serialised as strings."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect):
        if value is None:
            return None
        return orjson.dumps(value, default=_default, option=orjson.OPT_SORT_KEYS).decode()

    def process_result_value(self, value: Any, dialect):
        if value is None:
            return None
        return orjson.loads(value)


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
