"""Usage events in and out, and what an ingestion did.

The write shapes are TypedDicts validated by Pydantic (unknown fields forbidden, like every write model).
A batch is checked by Pydantic only for its envelope (an object with 1 to 10,000 `events`, each an object)
and decoded straight from the request bytes into the plain dicts `ingest_events` takes: the events
themselves are validated once, by the ingestion's own parser, which enforces every rule of `UsageEventIn`
(unknown fields, types, lengths) and names each problem by its pointer. Validating them twice would cost
more than ingesting them, and a Pydantic `Decimal` would turn every plain "12.5" into a type the
ingestion's lean path does not take. The OpenAPI schema of the batch is `batch_schema()`.

A single event is validated by Pydantic, all but its `value`, which reaches the ingestion as sent so that
the ingestion's rules hold for it as in a batch: a JSON float (1.5) is refused on `value`, with the reason,
where a Pydantic `Decimal` would have taken it and hidden the float.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, TypeAdapter, WithJsonSchema
from typing_extensions import NotRequired, TypedDict

from invoiceflow.api.context import MAX_BATCH
from invoiceflow.api.schemas.common import ReadModel

# What a client should send; the ingestion also takes other exact spellings ("1.50000000").
QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,6})?$"},
                      {"type": "null"}]}
UtcTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]  # ISO 8601 in UTC, with Z


class UsageEventIn(TypedDict):
    """One usage event (docs/metering.md). Exactly one of `customer` and `external_account_id`."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    transaction_id: Annotated[str, Field(min_length=1, max_length=128, description="Idempotency key of the event.")]
    customer: NotRequired[Annotated[str | None, Field(max_length=64)]]
    external_account_id: NotRequired[Annotated[str | None, Field(max_length=128)]]
    metric: Annotated[str, Field(min_length=1, max_length=64, description="A meter code.")]
    timestamp: Annotated[str, Field(max_length=64, description="ISO 8601 with Z or an offset.",
                                    json_schema_extra={"format": "date-time"})]
    value: NotRequired[Annotated[Any, WithJsonSchema(QUANTITY),
                                 Field(description="An integer or a decimal string with at most 6 decimals "
                                                   "(never a JSON float: it cannot hold 0.1 exactly).")]]
    properties: NotRequired[dict[str, Any] | None]


class _BatchEnvelope(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    events: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_BATCH)]


BATCH = TypeAdapter(_BatchEnvelope)  # the envelope only: see the module docstring
EVENT = TypeAdapter(UsageEventIn)


def batch_schema() -> dict[str, Any]:
    """The request body schema of the batch endpoint, pointing at the event schema in components."""
    return {"type": "object", "additionalProperties": False, "required": ["events"], "properties": {
        "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                   "items": {"$ref": "#/components/schemas/UsageEventIn"},
                   "description": f"1 to {MAX_BATCH:,} events, ingested all or nothing."}}}


def without_nulls(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if v is not None}


class IngestResult(ReadModel):
    received: int
    inserted: int
    duplicates: int
    late: int
    parked: int = 0
    late_samples: list[str] = []
    by_meter: dict[str, int] = {}
    parked_accounts: dict[str, int] = {}


class UsageEvent(ReadModel):
    id: int
    transaction_id: str
    customer: str
    metric: str
    timestamp: UtcTime
    quantity: str = Field(description="What the event counts for its meter (a count meter: 1), a decimal string.")
    distinct_value: str | None = None
    dims: str = ""
    properties: dict[str, Any] | None = None
    late: bool
    ingested_at: UtcTime
