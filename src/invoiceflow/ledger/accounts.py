"""A legal entity's chart of accounts and its GL mapping: which account plays which role (pure).

Posting rules speak in *roles* (receivable, revenue, tax, ...), never in account numbers; each legal entity
maps roles to its own accounts, per product where it wants to ('' = the default for every product). A
product's own mapping wins over the default. A role that maps nowhere, or to an account the entity's chart
does not have, is a `MappingGap`: data that names entity, role and product, so a readiness gate can list
what is missing and the ledger can refuse to post with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from invoiceflow.errors import Problem, ValidationError

RECEIVABLE, TAX, DEFERRED_REVENUE, UNBILLED, REVENUE, CASH = (
    "receivable", "tax", "deferred_revenue", "unbilled", "revenue", "cash")
ROLES = (RECEIVABLE, TAX, DEFERRED_REVENUE, UNBILLED, REVENUE, CASH)
ACCOUNT_TYPES = ("asset", "liability", "equity", "revenue", "expense")
ALL_PRODUCTS = ""

# The role names revenue recognition (revrec/journal.py) gives its lines, in this module's terms.
REVREC_ROLES: Mapping[str, str] = {
    "accounts_receivable": RECEIVABLE, "unbilled_receivable": UNBILLED, "deferred_revenue": DEFERRED_REVENUE,
    "revenue": REVENUE, "contra_revenue": REVENUE, "cash": CASH,
}


@dataclass(frozen=True, slots=True)
class Account:
    code: str
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class MappingGap:
    """One (role, product) the legal entity cannot post: unmapped, or mapped to an unknown account."""

    legal_entity: str
    role: str
    product: str
    account: str | None = None  # the unknown account it points to; None when nothing is mapped

    @property
    def detail(self) -> str:
        """What is wrong, without naming the entity (the problem's record does)."""
        if self.account is None:
            if self.product:
                return (f"no GL account is mapped for role {self.role!r} and product {self.product!r}, and there "
                        "is no default for that role (product '')")
            return f"no GL account is mapped for role {self.role!r} (the default for every product)"
        subject = f"product {self.product!r}" if self.product else "every product"
        return (f"role {self.role!r} for {subject} is mapped to account {self.account!r}, which is not in the "
                "entity's chart of accounts")

    @property
    def message(self) -> str:
        return f"legal entity {self.legal_entity}: {self.detail}"

    @property
    def root_cause(self) -> str:
        """Stable name of the fix: every document blocked by the same gap shares it."""
        return f"gl_mapping:{self.legal_entity}:{self.role}:{self.product or '*'}"

    def as_problem(self) -> Problem:
        return Problem(f"legal entity {self.legal_entity}", "gl_mappings", self.detail)

    def __str__(self) -> str:
        return self.message


class MissingMapping(ValidationError):
    """The GL mapping cannot place every line of an entry; `gaps` says which (nothing was posted)."""

    def __init__(self, gaps: Iterable[MappingGap]):
        self.gaps: list[MappingGap] = list(gaps)
        super().__init__([gap.as_problem() for gap in self.gaps])


@dataclass(frozen=True, slots=True)
class Chart:
    """One legal entity's accounts (by code) and mappings ((role, product) -> account code)."""

    legal_entity: str
    accounts: Mapping[str, Account] = field(default_factory=dict)
    mappings: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def resolve(self, role: str, product: str | None = None) -> str | MappingGap:
        """The account for `role` and `product` (its own mapping, else the default), or the gap."""
        if role not in ROLES:
            raise ValueError(f"unknown GL role {role!r} (known: {', '.join(ROLES)})")
        product = product or ALL_PRODUCTS
        code = self.mappings.get((role, product))
        if code is None and product:
            code = self.mappings.get((role, ALL_PRODUCTS))
        if code is None:
            return MappingGap(self.legal_entity, role, product)
        if code not in self.accounts:
            return MappingGap(self.legal_entity, role, product, code)
        return code

    def gaps(self, needs: Iterable[tuple[str, str]]) -> list[MappingGap]:
        """Every (role, product) of `needs` that cannot be posted, in order, once each."""
        found = (self.resolve(role, product) for role, product in dict.fromkeys(needs))
        return [gap for gap in found if isinstance(gap, MappingGap)]

    def accounts_for(self, needs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Account code per (role, product) of `needs`; raise MissingMapping naming every gap at once."""
        needs = list(dict.fromkeys((role, product or ALL_PRODUCTS) for role, product in needs))
        gaps = self.gaps(needs)
        if gaps:
            raise MissingMapping(gaps)
        return {need: self.resolve(*need) for need in needs}  # type: ignore[misc]
