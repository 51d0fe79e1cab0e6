"""Journal entries as plain data: balanced by construction, Decimal only, in the currency's minor units.

An entry is what every ledger posts, the built-in SQL ledger and the ERP connectors alike, so it carries no
database ids: accounts are chart-of-accounts codes, the legal entity is its code, and `entry_key` names the
business event ("invoice:12:issued"), which makes posting the same event twice a no-op wherever it goes.

Constructing an entry that does not balance to the minor unit raises: no code path can hold, let alone
post, an unbalanced entry. The ledger never rounds; an amount finer than the currency's minor unit is
refused, because rounding belongs to the document that produced it (money.round_amount).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable

from invoiceflow.errors import ValidationError
from invoiceflow.money import round_amount

ZERO = Decimal(0)
MAX_KEY = 128


class UnbalancedEntry(ValidationError):
    """A journal entry whose debits and credits differ, or whose lines are malformed; nothing was posted."""


def _decimal(value: object, where: str, record: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise UnbalancedEntry(f"must be a finite Decimal, got {type(value).__name__} {value!r}",
                              record=record, field=where)
    return value


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One side of one account: exactly one of debit and credit is non-zero, neither is negative."""

    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    product: str | None = None
    memo: str = ""

    def __post_init__(self) -> None:
        record = f"journal line {self.account!r}"
        if not isinstance(self.account, str) or not self.account.strip():
            raise UnbalancedEntry("a journal line needs an account code", record=record, field="account")
        debit, credit = _decimal(self.debit, "debit", record), _decimal(self.credit, "credit", record)
        if debit < 0 or credit < 0:
            raise UnbalancedEntry("amounts are never negative: post the amount on the other side", record=record)
        if (debit == 0) == (credit == 0):
            raise UnbalancedEntry("exactly one of debit and credit must be non-zero", record=record)

    @classmethod
    def signed(cls, account: str, amount: Decimal, *, product: str | None = None, memo: str = "") -> "JournalLine":
        """A line from a signed amount: positive debits the account, negative credits it."""
        if amount >= 0:
            return cls(account, debit=amount, product=product, memo=memo)
        return cls(account, credit=-amount, product=product, memo=memo)

    @property
    def amount(self) -> Decimal:
        """Signed: debit positive, credit negative."""
        return self.debit - self.credit

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "debit": self.debit, "credit": self.credit, "product": self.product,
                "memo": self.memo}


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """A balanced set of lines for one business event in one legal entity and one currency."""

    entry_key: str
    legal_entity: str
    date: date
    currency: str
    lines: tuple[JournalLine, ...]
    memo: str = ""
    source_type: str = ""
    source_id: str = ""
    reverses: str | None = None  # entry_key of the entry this one reverses
    _hash: str = field(init=False, default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        record = f"journal entry {self.entry_key}"
        if not isinstance(self.entry_key, str) or not self.entry_key.strip() or len(self.entry_key) > MAX_KEY:
            raise UnbalancedEntry(f"entry_key must be 1-{MAX_KEY} characters", record=record, field="entry_key")
        if not isinstance(self.legal_entity, str) or not self.legal_entity:
            raise UnbalancedEntry("an entry belongs to a legal entity", record=record, field="legal_entity")
        if not isinstance(self.date, date) or isinstance(self.date, datetime):
            raise UnbalancedEntry(f"date must be a date, got {self.date!r}", record=record, field="date")
        lines = tuple(self.lines)
        object.__setattr__(self, "lines", tuple(self._normalised(lines, record)))
        debits = sum((line.debit for line in self.lines), ZERO)
        credits = sum((line.credit for line in self.lines), ZERO)
        if not any(line.debit for line in self.lines) or not any(line.credit for line in self.lines):
            raise UnbalancedEntry("an entry needs at least one debit and one credit line", record=record,
                                  field="lines")
        if debits != credits:
            raise UnbalancedEntry(
                f"debits {debits} and credits {credits} differ by {debits - credits} {self.currency}",
                record=record, field="lines")
        object.__setattr__(self, "_hash", _content_hash(self))

    def _normalised(self, lines: tuple[JournalLine, ...], record: str) -> Iterable[JournalLine]:
        """Each amount at exactly the currency's exponent (10 and 10.00 are the same posting)."""
        for position, line in enumerate(lines, start=1):
            if not isinstance(line, JournalLine):
                raise UnbalancedEntry(f"not a JournalLine: {line!r}", record=record, field=f"lines[{position}]")
            debit, credit = round_amount(line.debit, self.currency), round_amount(line.credit, self.currency)
            if (debit, credit) != (line.debit, line.credit):
                raise UnbalancedEntry(
                    f"{line.debit or line.credit} has more digits than {self.currency} allows; round it where "
                    "the amount is made", record=record, field=f"lines[{position}]")
            yield JournalLine(line.account, debit, credit, line.product, line.memo)

    @property
    def total(self) -> Decimal:
        """The sum of the debits (equal to the sum of the credits)."""
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def content_hash(self) -> str:
        """sha256 over everything the entry says: the same key posted with another hash is a conflict."""
        return self._hash

    def reversal(self, *, entry_key: str, on: date, memo: str = "") -> "JournalEntry":
        """The exact mirror of this entry (every debit becomes a credit) that cancels it on `on`."""
        lines = tuple(JournalLine(line.account, line.credit, line.debit, line.product, line.memo)
                      for line in self.lines)
        return JournalEntry(entry_key=entry_key, legal_entity=self.legal_entity, date=on, currency=self.currency,
                            lines=lines, memo=memo or f"reversal of {self.entry_key}",
                            source_type=self.source_type, source_id=self.source_id, reverses=self.entry_key)

    def as_dict(self) -> dict[str, Any]:
        return {"entry_key": self.entry_key, "legal_entity": self.legal_entity, "date": self.date,
                "currency": self.currency, "memo": self.memo, "source_type": self.source_type,
                "source_id": self.source_id, "reverses": self.reverses,
                "lines": [line.as_dict() for line in self.lines]}


def _content_hash(entry: JournalEntry) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    body = json.dumps(plain(entry.as_dict()), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()
