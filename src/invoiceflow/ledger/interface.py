"""The one interface every ledger implements: the built-in SQL ledger now, ERP connectors later.

A ledger receives finished, balanced `JournalEntry` values; the posting rules that make them are shared, so
switching ledgers never changes what is posted. Each post happens in the caller's database transaction:
the built-in ledger writes its rows there, and a connector to an external ERP records an effect (outbox
row) there with the entry key as its idempotency key, so the business change and its posting commit or
roll back together, and a retried post never doubles an entry on either side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from invoiceflow.ledger.entries import JournalEntry

if TYPE_CHECKING:
    from sqlalchemy import Connection

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Posted:
    """An entry as the ledger holds it; `new` is False when the key was already posted with this content."""

    id: int | str  # the ledger's own reference for the entry (a row id, an ERP document number)
    entry: JournalEntry
    posted_at: datetime
    new: bool


@runtime_checkable
class Ledger(Protocol):
    """Where journal entries go. Implementations must be idempotent by `entry.entry_key`:

    * the same key with the same content is a no-op that returns what is already posted (`new=False`);
    * the same key with different content raises `ConflictError` and posts nothing;
    * an entry whose accounts the ledger does not know raises a `ValidationError` and posts nothing.
    """

    name: str

    def post(self, conn: "Connection", tenant_id: int, entry: JournalEntry, *, at: datetime,
             actor: str = "ledger") -> Posted:
        """Post `entry` in the caller's transaction."""
        ...

    def find(self, conn: "Connection", tenant_id: int, entry_key: str) -> Posted | None:
        """The entry posted under `entry_key`, if any."""
        ...


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """One row of a trial balance: an account's debits and credits in one legal entity and currency."""

    legal_entity: str
    currency: str
    account: str
    name: str
    type: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Debit minus credit: positive for a debit balance (assets), negative for a credit balance."""
        return self.debit - self.credit


@dataclass(frozen=True, slots=True)
class TrialBalance:
    """Balances per account, and per (legal entity, currency) the totals, which must be equal."""

    as_of: date | None
    legal_entity: str | None
    rows: tuple[AccountBalance, ...]

    def totals(self) -> list[dict]:
        """Per (legal entity, currency): total debits, total credits and whether they are equal."""
        sums: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        for row in self.rows:
            debit, credit = sums.get((row.legal_entity, row.currency), (ZERO, ZERO))
            sums[(row.legal_entity, row.currency)] = (debit + row.debit, credit + row.credit)
        return [{"legal_entity": entity, "currency": currency, "debit": debit, "credit": credit,
                 "balanced": debit == credit} for (entity, currency), (debit, credit) in sorted(sums.items())]

    @property
    def balanced(self) -> bool:
        return all(total["balanced"] for total in self.totals())
