"""Reading and checking a declarative catalog document (YAML or JSON) before anything is written.

Checks run in two passes: the published JSON Schema (shape), then meaning (references inside the document,
dates in order, prices that parse, currencies that agree). Every problem is reported with its record and
field; a document with any problem is refused whole.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from invoiceflow.errors import ApplyError, Problem, ValidationError
from invoiceflow.money import is_currency
from invoiceflow.rating.periods import validate_timezone
from invoiceflow.rating.prices import parse_price

SECTIONS = (
    "legal_entities", "customers", "products", "meters", "plans", "contracts", "subscriptions", "prepaid_credits",
)


def schema() -> dict[str, Any]:
    return json.loads(resources.files("invoiceflow.schemas").joinpath("catalog.schema.json").read_text())


_VALIDATOR = Draft202012Validator(schema())


def load_document(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON file; syntax errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ApplyError(f"cannot read {path}: {exc.strerror}", record=str(path)) from None
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            # Dates stay strings so JSON and YAML documents mean the same thing.
            doc = yaml.load(text, Loader=_StringDateLoader)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ApplyError(f"not valid YAML/JSON: {exc}", record=str(path)) from None
    if not isinstance(doc, dict):
        raise ApplyError("the document must be a mapping of sections", record=str(path))
    return doc


class _StringDateLoader(yaml.SafeLoader):
    pass


_StringDateLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def label(section: str, index: int, item: Any) -> str:
    code = item.get("code") if isinstance(item, dict) else None
    return f"{section}[{index}]" + (f" ({code})" if code else "")


def check_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Return the document if it is valid; otherwise raise ApplyError listing every problem."""
    problems = _schema_problems(doc)
    if not problems:
        problems = _meaning_problems(doc)
    if problems:
        raise ApplyError(problems)
    return doc


def _schema_problems(doc: dict[str, Any]) -> list[Problem]:
    problems = []
    for error in sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] in SECTIONS and isinstance(path[1], int):
            record = label(path[0], path[1], doc[path[0]][path[1]])
            field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path[2:]).replace(".[", "[")
        else:
            record, field = "document", ".".join(map(str, path))
        problems.append(Problem(record, field, error.message))
    return problems


def _meaning_problems(doc: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for section in SECTIONS:
        seen: set[str] = set()
        for i, item in enumerate(doc.get(section, [])):
            if item["code"] in seen:
                problems.append(Problem(label(section, i, item), "code", "appears twice in the document"))
            seen.add(item["code"])
    plans = {p["code"]: p for p in doc.get("plans", [])}
    for i, item in enumerate(doc.get("legal_entities", [])):
        if not is_currency(item["currency"]):
            problems.append(Problem(label("legal_entities", i, item), "currency", "not an ISO 4217 code"))
    for i, item in enumerate(doc.get("customers", [])):
        record = label("customers", i, item)
        if not is_currency(item["currency"]):
            problems.append(Problem(record, "currency", f"{item['currency']!r} is not an ISO 4217 code"))
        try:
            validate_timezone(item.get("timezone", "UTC"))
        except ValidationError as exc:
            problems += [Problem(record, "timezone", p.message) for p in exc.problems]
    for i, plan in enumerate(doc.get("plans", [])):
        problems += _plan_problems(label("plans", i, plan), plan)
    for i, contract in enumerate(doc.get("contracts", [])):
        problems += _contract_problems(label("contracts", i, contract), contract, plans)
    for i, sub in enumerate(doc.get("subscriptions", [])):
        problems += _subscription_problems(label("subscriptions", i, sub), sub)
    for i, credit in enumerate(doc.get("prepaid_credits", [])):
        record = label("prepaid_credits", i, credit)
        if not is_currency(credit["currency"]):
            problems.append(Problem(record, "currency", "not an ISO 4217 code"))
        if _dec_negative(credit["amount"]) or str(credit["amount"]).strip("0.") == "":
            problems.append(Problem(record, "amount", "a top-up must be a positive amount"))
        problems += _date_problems(record, credit, ("granted_on",))
    return problems


def _plan_problems(record: str, plan: dict) -> list[Problem]:
    problems = []
    if not is_currency(plan["currency"]):
        problems.append(Problem(record, "currency", f"{plan['currency']!r} is not an ISO 4217 code"))
    codes: set[str] = set()
    for j, charge in enumerate(plan["charges"]):
        where = f"charges[{j}]"
        if charge["code"] in codes:
            problems.append(Problem(record, f"{where}.code", f"charge code {charge['code']!r} appears twice"))
        codes.add(charge["code"])
        problems += _price_problems(record, f"{where}.price", charge["price"], plan["currency"])
        price_currency = charge["price"].get("currency")
        if price_currency and price_currency != plan["currency"]:
            problems.append(Problem(
                record, f"{where}.price.currency",
                f"price currency {price_currency} differs from the plan's currency {plan['currency']}",
            ))
        model = charge["price"].get("model")
        if charge.get("meter") is None and model not in ("flat", "standard"):
            problems.append(Problem(record, f"{where}.meter", f"a {model!r} price needs a meter to measure usage"))
        if charge.get("meter") is not None and charge.get("timing") == "advance":
            problems.append(Problem(record, f"{where}.timing", "usage charges are billed in arrears"))
    return problems


def _price_problems(record: str, field: str, price: dict, currency: str) -> list[Problem]:
    try:
        parse_price(price, record=record, currency=currency)
    except ValidationError as exc:
        return [Problem(record, f"{field}.{p.field}" if p.field else field, p.message) for p in exc.problems]
    return []


def _contract_problems(record: str, contract: dict, plans: dict) -> list[Problem]:
    problems = []
    if not is_currency(contract["currency"]):
        problems.append(Problem(record, "currency", f"{contract['currency']!r} is not an ISO 4217 code"))
    previous: tuple[date, date | None] | None = None
    for j, version in enumerate(contract["versions"]):
        where = f"versions[{j}]"
        dated = _date_problems(record, version, ("effective_from", "effective_to"), prefix=where)
        problems += dated
        if dated:
            continue
        start = date.fromisoformat(version["effective_from"])
        end = date.fromisoformat(version["effective_to"]) if version.get("effective_to") else None
        if end is not None and end <= start:
            problems.append(Problem(record, f"{where}.effective_to", "must be after effective_from"))
        if previous is not None:
            prev_start, prev_end = previous
            if start <= prev_start:
                problems.append(Problem(
                    record, f"{where}.effective_from",
                    f"versions must be in date order: {start} is not after {prev_start}",
                ))
            elif prev_end is not None and start < prev_end:
                problems.append(Problem(
                    record, f"{where}.effective_from",
                    f"overlaps the previous version, which runs to {prev_end}",
                ))
            elif prev_end is not None and start > prev_end:
                problems.append(Problem(
                    record, f"{where}.effective_from",
                    f"leaves a gap after the previous version ends on {prev_end}: no price would apply",
                ))
        previous = (start, end)
        plan = plans.get(version["plan"])
        if plan is not None and plan["currency"] != contract["currency"]:
            problems.append(Problem(
                record, f"{where}.plan",
                f"plan {plan['code']} is priced in {plan['currency']} but the contract is in {contract['currency']}",
            ))
        charge_codes = {c["code"] for c in plan["charges"]} if plan else None
        for code, price in (version.get("price_overrides") or {}).items():
            if charge_codes is not None and code not in charge_codes:
                problems.append(Problem(record, f"{where}.price_overrides.{code}", "no such charge in the plan"))
            problems += _price_problems(record, f"{where}.price_overrides.{code}", price, contract["currency"])
            if price.get("currency") and price["currency"] != contract["currency"]:
                problems.append(Problem(
                    record, f"{where}.price_overrides.{code}.currency",
                    f"price currency {price['currency']} differs from the contract's {contract['currency']}",
                ))
        if _dec_negative(version.get("minimum_commitment", "0")):
            problems.append(Problem(record, f"{where}.minimum_commitment", "must not be negative"))
        for k, discount in enumerate(version.get("discounts") or []):
            dwhere = f"{where}.discounts[{k}]"
            if _dec_negative(discount["value"]):
                problems.append(Problem(record, f"{dwhere}.value", "must not be negative"))
            if discount["kind"] == "percent" and _dec_over(discount["value"], 100):
                problems.append(Problem(record, f"{dwhere}.value", "a percent discount cannot exceed 100"))
            if discount.get("duration") == "periods" and not discount.get("periods"):
                problems.append(Problem(record, f"{dwhere}.periods", "required when duration is 'periods'"))
    return problems


def _subscription_problems(record: str, sub: dict) -> list[Problem]:
    problems = _date_problems(record, sub, ("start_date", "end_date", "trial_end"))
    if problems:
        return problems
    start = date.fromisoformat(sub["start_date"])
    for field in ("end_date", "trial_end"):
        if sub.get(field) and date.fromisoformat(sub[field]) <= start:
            problems.append(Problem(record, field, f"must be after start_date {start}"))
    if sub.get("cancel_mode") and not sub.get("end_date"):
        problems.append(Problem(record, "cancel_mode", "needs end_date (the date the cancellation takes effect)"))
    return problems


def _date_problems(record: str, item: dict, fields: tuple[str, ...], prefix: str = "") -> list[Problem]:
    problems = []
    for field in fields:
        value = item.get(field)
        if value is None:
            continue
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            name = f"{prefix}.{field}" if prefix else field
            problems.append(Problem(record, name, f"{value!r} is not a calendar date (YYYY-MM-DD)"))
    return problems


def _dec_negative(value: Any) -> bool:
    return str(value).strip().startswith("-")


def _dec_over(value: Any, limit: int) -> bool:
    return Decimal(str(value)) > limit
