"""Streaming readers for usage files: CSV and NDJSON, one event per record, any size.

Readers yield `(line_number, event)` pairs and never raise mid-stream: a line that cannot be read becomes a
`Problem` in place of the event, so ingestion reports every bad line of a file at once, by number. JSON
numbers with a fraction are read as exact Decimals (1.5 stays 1.5, never a binary float).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from invoiceflow.errors import IngestError, Problem

FORMATS = ("csv", "ndjson")
_EXTENSIONS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}
_TOP_LEVEL = ("transaction_id", "customer", "external_account_id", "metric", "timestamp", "value")
_REQUIRED = ("transaction_id", "metric", "timestamp")
_PROPERTY_PREFIX = "properties."
Record = tuple[int, "dict[str, Any] | Problem"]


def detect_format(path: Path | str, explicit: str | None = None) -> str:
    """`explicit` if given, else the format named by the file extension (.csv, .ndjson, .jsonl)."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise IngestError(f"unknown format {explicit!r} (expected csv or ndjson)", field="format")
        return explicit
    found = _EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        message = f"cannot tell the format of {Path(path).name}; pass --format csv or ndjson"
        raise IngestError(message, field="format")
    return found


def json_decimal(data: bytes | str) -> Any:
    """Parse JSON keeping numbers exact: fast orjson first, and the stdlib with Decimal when a float appears."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:  # also integers beyond 64 bits, which the stdlib reads fine
        value = None
    else:
        if not _has_float(value):
            return value
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    return json.loads(text, parse_float=Decimal)


def _has_float(value: Any) -> bool:
    if type(value) is float:
        return True
    if type(value) is dict:
        return any(_has_float(item) for item in value.values())
    if type(value) is list:
        return any(_has_float(item) for item in value)
    return False


class EventFile:
    """A usage file read as a stream; `bytes_read` and `size` drive a progress bar."""

    def __init__(self, path: Path | str, fmt: str | None = None):
        self.path = Path(path)
        self.format = detect_format(self.path, fmt)
        self.size = self.path.stat().st_size
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Record]:
        return self._ndjson() if self.format == "ndjson" else self._csv()

    def _lines(self) -> Iterator[bytes]:
        with self.path.open("rb") as stream:
            for line in stream:
                self.bytes_read += len(line)
                yield line

    def _ndjson(self) -> Iterator[Record]:
        for number, line in enumerate(self._lines(), 1):
            if not line.strip():
                continue
            try:
                event = json_decimal(line)
            except (ValueError, UnicodeDecodeError) as exc:
                yield number, Problem(f"line {number}", "", f"is not valid JSON: {exc}")
                continue
            if type(event) is not dict:
                yield number, Problem(f"line {number}", "", f"must be a JSON object, not {type(event).__name__}")
                continue
            yield number, event

    def _csv(self) -> Iterator[Record]:
        undecodable: set[int] = set()
        reader = csv.reader(self._text_lines(undecodable), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            yield 1, Problem("line 1", "", f"is not a valid CSV header: {exc}")
            return
        if header is None:
            return
        columns = _Columns(header)
        if columns.problems:
            for problem in columns.problems:
                yield 1, problem
            return
        last = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                first, last = last + 1, reader.line_num
                yield first, Problem(f"line {first}", "", f"is not valid CSV: {exc}")
                continue
            first, last = last + 1, reader.line_num
            if not cells:
                continue
            if undecodable and any(first <= n <= last for n in undecodable):
                yield first, Problem(f"line {first}", "", "is not valid UTF-8")
            else:
                yield first, columns.event(cells, first)

    def _text_lines(self, undecodable: set[int]) -> Iterator[str]:
        for number, line in enumerate(self._lines(), 1):
            try:
                yield line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                undecodable.add(number)
                yield line.decode("utf-8", errors="replace")


def _is_property(name: str) -> bool:
    return name.startswith(_PROPERTY_PREFIX) and len(name) > len(_PROPERTY_PREFIX)


class _Columns:
    """A checked CSV header: top-level fields, then `properties.<key>` columns or one `properties` JSON."""

    def __init__(self, header: list[str]):
        names = [name.strip() for name in header]
        self.problems: list[Problem] = []
        self.width = len(names)
        self.top = [(i, name) for i, name in enumerate(names) if name in _TOP_LEVEL]
        self.props = [(i, name[len(_PROPERTY_PREFIX) :]) for i, name in enumerate(names) if _is_property(name)]
        self.json_props = names.index("properties") if "properties" in names else None
        for name in names:
            if name not in _TOP_LEVEL and name != "properties" and not _is_property(name):
                self._bad(name or "(empty)", f"unknown column (expected {', '.join(_TOP_LEVEL)}, properties "
                          "or properties.<key>)")  # fmt: skip
        for name in sorted({n for n in names if names.count(n) > 1}):
            self._bad(name, "column appears more than once")
        for name in _REQUIRED:
            if name not in names:
                self._bad(name, "required column is missing")
        if "customer" not in names and "external_account_id" not in names:
            self._bad("customer", "a customer or an external_account_id column is required")
        if self.props and self.json_props is not None:
            self._bad("properties", "use either a properties JSON column or properties.<key> columns, not both")

    def _bad(self, field: str, message: str) -> None:
        self.problems.append(Problem("line 1", field, message))

    def event(self, cells: list[str], line: int) -> dict[str, Any] | Problem:
        if len(cells) != self.width:
            return Problem(f"line {line}", "", f"has {len(cells)} fields, the header has {self.width}")
        event: dict[str, Any] = {name: cells[i] for i, name in self.top if cells[i]}
        if self.props:
            props = {key: cells[i] for i, key in self.props if cells[i]}
            if props:
                event["properties"] = props
        elif self.json_props is not None and cells[self.json_props].strip():
            try:
                event["properties"] = json_decimal(cells[self.json_props])
            except ValueError as exc:
                return Problem(f"line {line}", "properties", f"is not valid JSON: {exc}")
        return event


def read_events(path: Path | str, fmt: str | None = None) -> EventFile:
    """Open a usage file for streaming; iterate it for `(line_number, event or Problem)` pairs."""
    return EventFile(path, fmt)
