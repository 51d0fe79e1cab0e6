"""Reading and checking a release policy file: every problem names its line, path and reason.

Two passes, like catalog documents: the published JSON Schema (`invoiceflow schema policy`), then meaning:
every gate configured (a gate is switched off explicitly, never by omission), no unknown gates or settings,
no impossible settings, and a route for every case type an enabled gate can open.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.gates.model import CASE_TYPES, OFF
from invoiceflow.gates.registry import CASES_OF, GATES, SETTINGS
from invoiceflow.money import is_currency


class PolicyError(ValidationError):
    """A policy file that cannot be applied; nothing was written."""


def schema() -> dict[str, Any]:
    return json.loads(resources.files("invoiceflow.schemas").joinpath("policy.schema.json").read_text())


_VALIDATOR = Draft202012Validator(schema())


def default_source() -> str:
    return resources.files("invoiceflow.schemas").joinpath("default-policy.yaml").read_text()


def read_policy(path: str | Path) -> tuple[dict[str, Any], str]:
    """(checked document, source text) of a policy file, or PolicyError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror}", record=str(path)) from None
    return check_policy_text(text, name=str(path)), text


def check_policy_text(text: str, *, name: str = "policy") -> dict[str, Any]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}", record=name) from None
    if not isinstance(doc, dict):
        raise PolicyError("a policy is a mapping with gates, routing and approvals", record=name)
    lines = _line_numbers(node) if node is not None else {}
    problems = [_located(name, lines, list(e.absolute_path), e.message)
                for e in sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
    if not problems:
        problems = [_located(name, lines, path, message) for path, message in _meaning(doc)]
    if problems:
        raise PolicyError(problems)
    return doc


def _meaning(doc: dict[str, Any]) -> list[tuple[list, str]]:
    found: list[tuple[list, str]] = []
    gates = doc["gates"]
    for name, settings in gates.items():
        if name not in GATES:
            found.append((["gates", name], f"unknown gate {name!r} (known: {', '.join(GATES)})"))
            continue
        allowed = SETTINGS.get(name, {})
        for key, value in settings.items():
            if key == "severity":
                continue
            if key not in allowed:
                known = ", ".join(["severity", *allowed]) or "severity"
                found.append((["gates", name, key], f"gate {name} has no setting {key!r} (it takes: {known})"))
            elif (why := allowed[key](value)) is not None:
                found.append((["gates", name, key], why))
        if name == "usage_completeness" and isinstance(settings.get("min_trailing"), int) and isinstance(
                settings.get("trailing_periods"), int) and settings["min_trailing"] > settings["trailing_periods"]:
            found.append((["gates", name, "min_trailing"], "cannot exceed trailing_periods: the anomaly check "
                          "could never run"))
    for name in GATES:
        if name not in gates:
            found.append((["gates"], f"gate {name!r} is not configured (give it severity block, warn or off)"))
    for kind in doc["routing"]:
        if kind not in CASE_TYPES:
            found.append((["routing", kind], f"unknown case type {kind!r} (known: {', '.join(CASE_TYPES)})"))
    for name, settings in gates.items():
        if name in GATES and settings.get("severity") != OFF:
            for kind in CASES_OF[name]:
                if kind not in doc["routing"]:
                    found.append((["routing"], f"case type {kind!r} (opened by gate {name}) has no route: add "
                                  "routing." + kind + " with a queue and sla_hours, or switch the gate off"))
    names: set[str] = set()
    for i, rule in enumerate(doc["approvals"]["rules"]):
        if rule["name"] in names:
            found.append((["approvals", "rules", i, "name"], f"rule name {rule['name']!r} appears twice"))
        names.add(rule["name"])
        for currency in rule["when"].get("min_total", {}):
            if not is_currency(currency):
                found.append((["approvals", "rules", i, "when", "min_total", currency],
                              f"{currency!r} is not an ISO 4217 currency"))
    for currency in (doc.get("overrides") or {}).get("second_approval_above", {}) or {}:
        if not is_currency(currency):
            found.append((["overrides", "second_approval_above", currency], f"{currency!r} is not an ISO 4217 currency"))
    return found


def _located(name: str, lines: dict[tuple, int], path: list, message: str) -> Problem:
    key = tuple(path)
    while key and key not in lines:
        key = key[:-1]
    line = lines.get(key, 1)
    dotted = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")
    return Problem(f"{name}:{line}", "", f"{dotted}: {message}" if dotted else message)


def _line_numbers(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    """Every path of the document mapped to the 1-based line where its value (or key) starts."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (key.value,)
            lines.update(_line_numbers(value, child))
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_line_numbers(item, path + (index,)))
    return lines
