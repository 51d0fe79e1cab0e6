"""Versioned JSON Schemas of inbound payloads, the tenant's field mapping, and what drifted.

Senders change their payloads without telling anyone: a CRM admin renames a custom field, a PSA adds one.
So checking a payload yields more than valid/invalid: the fields the schema does not know (recorded as
drift, the event still processed), the required fields that are missing (the event is parked), and for
each missing field the unknown sibling that most likely replaced it, which is the mapping that fixes it.

The mapping renames fields of the source's record object (the opportunity, the time entry, Stripe's
data.object) before the schema is checked: {"Plan__c": "PlanCode"} reads Plan__c as PlanCode. Objects whose
schema says `"additionalProperties": true` (Stripe's objects carry dozens of fields) are not scanned for
unknown fields. Pure apart from reading the schema files of the package.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "webhooks"
SEGMENT = re.compile(r"^[A-Za-z0-9_$\-]{1,100}$")
MAX_UNKNOWN = 100  # unknown fields recorded per event: a sender dumping a huge object cannot flood the drift table
_RENAME_CUTOFF = 0.5


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with a payload: `path` is dotted from the payload root ("opportunity.PlanCode")."""

    path: str
    message: str
    kind: str = "invalid"  # missing | invalid

    def as_error(self) -> dict[str, Any]:
        pointer = "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in re.findall(r"[^.\[\]]+", self.path))
        return {"field": self.path, "pointer": pointer, "in": "body", "detail": self.message}


@dataclass(frozen=True, slots=True)
class Checked:
    """The result of checking a (mapped) payload against its schema."""

    schema: str
    problems: tuple[FieldProblem, ...] = ()
    unknown: tuple[tuple[str, Any], ...] = ()  # (path, value) of fields the schema does not declare
    renames: Mapping[str, str] = field(default_factory=dict)  # missing path -> unknown path that replaced it?

    @property
    def missing(self) -> list[str]:
        return [p.path for p in self.problems if p.kind == "missing"]


@lru_cache(maxsize=32)
def load_schema(name: str) -> dict[str, Any]:
    """The schema document `name` ("crm-opportunity-v1"); FileNotFoundError for an unknown version."""
    if not SEGMENT.match(name):
        raise FileNotFoundError(name)
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=32)
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def check(name: str, document: Mapping[str, Any]) -> Checked:
    """Check `document` against schema `name`: problems (missing first), unknown fields, likely renames."""
    problems: list[FieldProblem] = []
    for error in _validator(name).iter_errors(document):
        where = _path(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, Mapping):
            for name_ in error.validator_value:
                if name_ not in error.instance:
                    problems.append(FieldProblem(_join(where, name_), "required field is missing", "missing"))
        elif error.validator not in ("if", "then", "allOf"):
            problems.append(FieldProblem(where, error.message))
    problems = sorted(set(problems), key=lambda p: (p.kind != "missing", p.path))
    unknown = unknown_fields(load_schema(name), document)
    return Checked(name, tuple(problems), tuple(unknown), suggest_renames([p.path for p in problems
                                                                         if p.kind == "missing"], unknown))


def unknown_fields(schema: Mapping[str, Any], value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, value) of every field of `value` its schema does not declare, array indexes kept."""
    out: list[tuple[str, Any]] = []
    if isinstance(value, Mapping) and "properties" in schema and schema.get("additionalProperties") is not True:
        declared = schema["properties"]
        for key, item in value.items():
            path = _join(prefix, str(key))
            if key in declared:
                out += unknown_fields(declared[key], item, path)
            else:
                out.append((path, item))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            out += unknown_fields(schema["items"], item, f"{prefix}[{i}]")
    return out[:MAX_UNKNOWN]


def suggest_renames(missing: list[str], unknown: list[tuple[str, Any]]) -> dict[str, str]:
    """For each missing field, the most similar unknown field of the same object, if any is close enough."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for path in missing:
        parent, _, name = path.rpartition(".")
        siblings = {p.rpartition(".")[2]: p for p, _ in unknown if p.rpartition(".")[0] == parent and p not in taken}
        close = difflib.get_close_matches(name, list(siblings), n=1, cutoff=_RENAME_CUTOFF)
        if not close:
            close = [s for s in siblings if name.lower() in s.lower() or s.lower() in name.lower()][:1]
        if close:
            out[path] = siblings[close[0]]
            taken.add(siblings[close[0]])
    return out


def apply_mapping(document: Mapping[str, Any], record_path: str, mapping: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `document` whose record object (at `record_path`) has its fields renamed by `mapping`."""
    out = copy.deepcopy(dict(document))
    record = _get(out, record_path)
    if not isinstance(record, dict) or not mapping:
        return out
    moved = []
    for source, target in mapping.items():
        parent, _, name = source.rpartition(".")
        holder = _get(record, parent) if parent else record
        if isinstance(holder, dict) and name in holder:
            moved.append((target, holder.pop(name)))
    for target, value in moved:
        parent, _, name = target.rpartition(".")
        holder = _ensure(record, parent) if parent else record
        if holder is not None:
            holder[name] = value
    return out


def mapping_problems(mapping: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every entry of a mapping that cannot be applied."""
    problems = []
    targets: dict[str, str] = {}
    for source, target in mapping.items():
        where = f"fields.{source}"
        if not _valid_path(source):
            problems.append((where, "a field path is dot-separated names of letters, digits, _ $ -"))
        if not isinstance(target, str) or not _valid_path(target):
            problems.append((where, "must name the schema's field as a dot-separated path"))
        elif target == source:
            problems.append((where, "maps a field onto itself"))
        elif target in targets:
            problems.append((where, f"{target!r} is already the target of {targets[target]!r}"))
        else:
            targets[target] = source
    return problems


def drift_path(path: str) -> str:
    """A path without array indexes, so every element's drift counts as one field: a.b[3].c -> a.b[].c."""
    return re.sub(r"\[\d+\]", "[]", path)


def sample(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _valid_path(path: Any) -> bool:
    return isinstance(path, str) and 0 < len(path) <= 300 and all(SEGMENT.match(s) for s in path.split("."))


def _path(parts) -> str:
    out = ""
    for part in parts:
        out = f"{out}[{part}]" if isinstance(part, int) else _join(out, str(part))
    return out


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _get(document: Any, path: str) -> Any:
    for part in filter(None, path.split(".")):
        if not isinstance(document, Mapping):
            return None
        document = document.get(part)
    return document


def _ensure(document: dict, path: str) -> dict | None:
    for part in path.split("."):
        nxt = document.setdefault(part, {})
        if not isinstance(nxt, dict):
            return None
        document = nxt
    return document
