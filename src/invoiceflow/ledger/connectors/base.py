"""What every ERP connector promises, whichever ERP it talks to.

A connector receives finished, balanced `JournalEntry` values (the effects runner hands them over after the
business transaction committed) and makes one document in the ERP per entry:

* **Idempotent by entry key.** The entry's `entry_key` ("invoice:42:issued") is stored on the ERP document
  as its external reference, so posting an entry the ERP already holds returns the existing reference
  instead of making a second document, and a different content under the same key is refused.
* **Reconcile before retry.** A timeout says nothing about whether the ERP applied the request. `post`
  therefore always looks the key up first: the retry that follows a timeout finds the document the lost
  answer was about and returns it, rather than posting it again.
* **Failures are classified** for the effects runner: `Transient` (timeouts, connection errors, 5xx,
  throttling) is retried with backoff; `Permanent` (wrong credentials, unknown accounts, a configuration
  the ERP does not have, an answer that does not parse or lacks expected fields) is dead-lettered until
  someone fixes the cause and replays the effect. Messages name the system, the operation and the cause.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

from invoiceflow.effects.errors import Permanent, Transient
from invoiceflow.ledger.entries import JournalEntry

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ExternalRef:
    """Where an entry lives in an ERP: the ERP's own id and document number, and our entry key."""

    system: str
    id: int | str
    number: str | None
    entry_key: str


@dataclass(frozen=True, slots=True)
class ErpLine:
    """One line as the ERP holds it, mapped back to our account codes."""

    account: str
    debit: Decimal
    credit: Decimal
    party: str | None = None
    memo: str = ""


@dataclass(frozen=True, slots=True)
class ErpEntry:
    """What the ERP holds for one entry, read back to verify it against what we sent."""

    ref: ExternalRef
    date: date
    currency: str
    state: str
    lines: tuple[ErpLine, ...]

    @property
    def total(self) -> Decimal:
        """The sum of the debits (equal to the credits in any ERP that balances its documents)."""
        return sum((line.debit for line in self.lines), ZERO)

    def by_account(self) -> dict[str, tuple[Decimal, Decimal]]:
        return by_account((line.account, line.debit, line.credit) for line in self.lines)

    def differences(self, entry: JournalEntry) -> list[str]:
        """How this document differs from `entry` (empty: it holds exactly that entry)."""
        found = []
        if self.date != entry.date:
            found.append(f"date {self.date} instead of {entry.date}")
        if self.currency != entry.currency:
            found.append(f"currency {self.currency} instead of {entry.currency}")
        held = self.by_account()
        wanted = by_account((line.account, line.debit, line.credit) for line in entry.lines)
        for account in sorted(held.keys() | wanted.keys()):
            have, want = held.get(account, (ZERO, ZERO)), wanted.get(account, (ZERO, ZERO))
            if have != want:
                found.append(f"account {account}: Dr {have[0]} Cr {have[1]} held, Dr {want[0]} Cr {want[1]} sent")
        return found


def by_account(lines) -> dict[str, tuple[Decimal, Decimal]]:
    """Total debit and total credit per account code, from (account, debit, credit) triples."""
    sums: dict[str, tuple[Decimal, Decimal]] = defaultdict(lambda: (ZERO, ZERO))
    for account, debit, credit in lines:
        have_debit, have_credit = sums[account]
        sums[account] = (have_debit + debit, have_credit + credit)
    return dict(sums)


@runtime_checkable
class ErpConnector(Protocol):
    """One ERP behind the one interface the effects runner calls."""

    name: str

    def post(self, entry: JournalEntry) -> ExternalRef:
        """Make (or find) the ERP document for `entry`; always looks the key up first."""
        ...

    def lookup(self, entry_key: str) -> ExternalRef | None:
        """The document carrying `entry_key` as its external reference, if the ERP has one."""
        ...

    def read(self, ref: ExternalRef) -> ErpEntry:
        """What the ERP holds for `ref`, in our account codes."""
        ...


def transient(system: str, operation: str, cause: str, *, retry_after: float | None = None) -> Transient:
    """A retryable failure whose message names the system, the operation and the cause."""
    return Transient(f"{system}: {operation}: {cause}", retry_after=retry_after)


def permanent(system: str, operation: str, cause: str) -> Permanent:
    """A failure that needs a fix before a replay, named the same way."""
    return Permanent(f"{system}: {operation}: {cause}")
