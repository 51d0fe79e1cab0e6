"""A release policy as data, and the decisions read off it: which approvals an invoice needs, whether an
override needs a second person, where a case type is routed.

Pure: `policy/document.py` checks a file and `policy/store.py` keeps its versions; this module only reads a
checked document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

DEFAULT_SLA_HOURS = 24


@dataclass(frozen=True, slots=True)
class Route:
    queue: str
    priority: str
    sla_hours: Decimal


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    name: str
    levels: tuple[str, ...]
    min_total: Mapping[str, Decimal] | None = None
    segments: frozenset[str] | None = None
    document_type: str | None = None
    non_standard_terms: bool = False
    overridden: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalSubject:
    """What the matrix looks at for one invoice."""

    document_type: str
    currency: str
    total: Decimal
    segment: str | None
    non_standard_terms: bool
    overridden: bool


@dataclass(frozen=True, slots=True)
class Level:
    """One approval an invoice needs: by someone holding `role`, required by the rule named `rule`."""

    rule: str
    role: str


@dataclass(frozen=True, slots=True)
class Policy:
    version: int
    name: str
    auto_release: bool
    gates: Mapping[str, Mapping[str, Any]]
    routing: Mapping[str, Route]
    rules: tuple[ApprovalRule, ...]
    second_approval_above: Mapping[str, Decimal] = field(default_factory=dict)

    def route(self, case_type: str) -> Route:
        return self.routing.get(case_type) or Route("finance", "normal", Decimal(DEFAULT_SLA_HOURS))

    def approval_levels(self, subject: ApprovalSubject) -> list[Level]:
        """Every matching rule's levels, in rule order. A role several rules ask for approves once (as many
        times as the one rule asking it most often). An amount threshold with no figure for the invoice's
        currency matches: an unlisted currency is never waved through."""
        levels: list[Level] = []
        for rule in self.rules:
            if not _matches(rule, subject):
                continue
            for index, role in enumerate(rule.levels):
                nth = rule.levels[: index + 1].count(role)
                if sum(1 for level in levels if level.role == role) < nth:
                    levels.append(Level(rule.name, role))
        return levels

    def override_needs_second_person(self, currency: str, amount: Decimal) -> bool:
        """Above the policy's limit for the currency (or in a currency it sets no limit for) an override
        needs a second person; a policy without limits never asks for one."""
        if not self.second_approval_above:
            return False
        limit = self.second_approval_above.get(currency)
        return limit is None or abs(amount) > limit


def _matches(rule: ApprovalRule, subject: ApprovalSubject) -> bool:
    if rule.document_type is not None and rule.document_type != subject.document_type:
        return False
    if rule.segments is not None and (subject.segment or "") not in rule.segments:
        return False
    if rule.non_standard_terms and not subject.non_standard_terms:
        return False
    if rule.overridden and not subject.overridden:
        return False
    if rule.min_total is not None:
        threshold = rule.min_total.get(subject.currency)
        if threshold is not None and abs(subject.total) < threshold:
            return False
    return True


def parse_policy(doc: Mapping[str, Any], version: int) -> Policy:
    """A Policy from a document that `policy.document.check_policy` accepted."""
    routing = {kind: Route(r["queue"], r.get("priority", "normal"), Decimal(str(r["sla_hours"])))
               for kind, r in doc.get("routing", {}).items()}
    rules = []
    for rule in doc.get("approvals", {}).get("rules", []):
        when = rule["when"]
        rules.append(ApprovalRule(
            name=rule["name"], levels=tuple(rule["levels"]),
            min_total={c: Decimal(str(v)) for c, v in when["min_total"].items()} if "min_total" in when else None,
            segments=frozenset(when["segments"]) if "segments" in when else None,
            document_type=when.get("document_type"), non_standard_terms=bool(when.get("non_standard_terms")),
            overridden=bool(when.get("overridden"))))
    second = {c: Decimal(str(v)) for c, v in (doc.get("overrides", {}).get("second_approval_above") or {}).items()}
    return Policy(version=version, name=doc.get("name", ""), auto_release=doc.get("auto_release", True),
                  gates={name: dict(settings) for name, settings in doc["gates"].items()}, routing=routing,
                  rules=tuple(rules), second_approval_above=second)
