"""Building blocks of the API's models: strict write models, money as strings, UTC times.

Money is `Decimal` inside and a decimal string on the wire ("1234.50"), never a JSON float: a float cannot
hold 0.10 exactly and integrators' JSON libraries round differently. Write models reject unknown fields,
so a misspelt field is an error naming it rather than a silently ignored value.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema


class WriteModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)  # SQLite reads stored UTC back naive
    return value


Money = Annotated[
    Decimal,
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["1234.50"]}, mode="serialization"),
]
Timestamp = Annotated[datetime, BeforeValidator(_utc)]


class Deleted(ReadModel):
    ok: bool = True
