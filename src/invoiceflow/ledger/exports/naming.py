"""What both plain-text exports share: account metadata, account names the checkers accept, entry order.

beancount and hledger both want every account under one of five roots and both check that every account
used was declared, so the exports name an account `Root:Entity:Code-Name` (for example
`Assets:Acme-us:1100-Receivables`): the entity keeps two legal entities' charts apart in one file, the code
keeps the name unique within the chart, and the name keeps the file readable. beancount's grammar is the
stricter one (each component starts with an upper-case letter or a digit, then letters, digits and dashes),
so the name is built for it and hledger uses the same one; a balance report from either tool can then be
compared with the built-in trial balance row for row.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.ledger.entries import JournalEntry

ROOTS = {"asset": "Assets", "liability": "Liabilities", "equity": "Equity", "revenue": "Income",
         "expense": "Expenses"}
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9-]+")


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """One account of one legal entity's chart, as the exports need it (type is the gl_accounts type)."""

    legal_entity: str
    code: str
    name: str
    type: str


def component(text: str) -> str:
    """A valid account-name component: ASCII letters, digits and dashes, starting with a capital or digit."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _NOT_ALLOWED.sub("-", ascii_text).strip("-")
    cleaned = re.sub("-{2,}", "-", cleaned)
    if not cleaned:
        return ""
    return cleaned[0].upper() + cleaned[1:]


def account_name(info: AccountInfo) -> str:
    """`Root:Entity:Code-Name`; raises for an account type neither checker has a root for."""
    root = ROOTS.get(info.type)
    if root is None:
        raise ValidationError(f"type {info.type!r} is not one of {', '.join(ROOTS)}",
                              record=f"legal entity {info.legal_entity} account {info.code}", field="type")
    entity = component(info.legal_entity) or "Entity"
    leaf = "-".join(part for part in (component(info.code), component(info.name)) if part)
    if not leaf or not (leaf[0].isupper() or leaf[0].isdigit()):
        leaf = "A" + leaf
    return f"{root}:{entity}:{leaf}"


def account_names(entries: Iterable[JournalEntry],
                  accounts: Mapping[tuple[str, str], AccountInfo]) -> dict[tuple[str, str], str]:
    """The export name of every (legal entity, account code) the entries use.

    Refuses, naming each, accounts missing from the metadata and two accounts that would get one name:
    an export that silently merged or dropped accounts would pass its checker and still be wrong.
    """
    names: dict[tuple[str, str], str] = {}
    problems: list[Problem] = []
    for entry in entries:
        for position, line in enumerate(entry.lines, start=1):
            key = (entry.legal_entity, line.account)
            if key in names:
                continue
            info = accounts.get(key)
            if info is None:
                problems.append(Problem(f"journal entry {entry.entry_key}", f"lines[{position}].account",
                                        f"account {line.account!r} is not in the chart of legal entity "
                                        f"{entry.legal_entity}"))
                names[key] = ""
                continue
            names[key] = account_name(info)
    taken: dict[str, tuple[str, str]] = {}
    for key, name in names.items():
        if name and name in taken:
            problems.append(Problem(f"legal entity {key[0]}", "accounts",
                                    f"accounts {taken[name][1]!r} and {key[1]!r} both export as {name!r}"))
        taken.setdefault(name, key)
    if problems:
        raise ValidationError(problems)
    return names


def in_date_order(entries: Sequence[JournalEntry]) -> list[JournalEntry]:
    """Entries by date, keeping posting order within a day (a stable sort), as both checkers prefer."""
    return sorted(entries, key=lambda entry: entry.date)


def one_line(text: str) -> str:
    """Free text on a single line: both formats are line-based."""
    return " ".join(text.split())
