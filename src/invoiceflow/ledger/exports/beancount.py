"""Journal entries as a beancount file that `bean-check` accepts.

Why each part is there: beancount refuses postings to accounts that were never opened and (with a
currency constraint on `open`) in currencies the account does not hold, so every account is opened on the
day of its first posting with exactly the currencies it uses; a `commodity` directive declares each
currency. One transaction per journal entry carries the entry key twice: as a link (`^invoice-12-issued`,
so `bean-query`/fava group an entry with its reversal) and exactly as metadata (`entry_key:`), because a
link cannot hold a colon. Amounts are the stored Decimals written as they are (credits negative), so the
file balances exactly when the ledger does and a checker failure means the export is wrong.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Mapping, Sequence

from invoiceflow.ledger.entries import JournalEntry
from invoiceflow.ledger.exports.naming import AccountInfo, account_names, in_date_order, one_line

_LINK_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_/.-]")


def link(entry_key: str) -> str:
    """A beancount link (letters, digits, `-_/.`) for an entry key; the exact key goes into metadata."""
    return _LINK_NOT_ALLOWED.sub("-", entry_key)


def _string(text: str) -> str:
    return '"' + one_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _amount(value: Decimal) -> str:
    return format(value, "f")


def render_beancount(entries: Sequence[JournalEntry], accounts: Mapping[tuple[str, str], AccountInfo], *,
                     title: str = "invoiceflow ledger") -> str:
    """The whole file: options, commodities, opens, then one transaction per entry in date order."""
    ordered = in_date_order(entries)
    names = account_names(ordered, accounts)
    first_used: dict[str, date] = {}
    opened: dict[tuple[str, str], tuple[date, set[str]]] = {}
    for entry in ordered:
        first_used.setdefault(entry.currency, entry.date)
        for line in entry.lines:
            key = (entry.legal_entity, line.account)
            day, currencies = opened.setdefault(key, (entry.date, set()))
            currencies.add(entry.currency)
    out = [f"; Exported by invoiceflow: {len(ordered)} journal entries. Check with: bean-check FILE",
           f"option \"title\" {_string(title)}", ""]
    for currency, day in sorted(first_used.items()):
        out.append(f"{day.isoformat()} commodity {currency}")
    if first_used:
        out.append("")
    for key, (day, currencies) in sorted(opened.items(), key=lambda item: names[item[0]]):
        info = accounts[key]
        out += [f"{day.isoformat()} open {names[key]} {','.join(sorted(currencies))}",
                f"  legal_entity: {_string(info.legal_entity)}", f"  code: {_string(info.code)}",
                f"  gl_name: {_string(info.name)}"]
    for entry in ordered:
        out.append("")
        out.extend(_transaction(entry, names))
    return "\n".join(out) + "\n"


def _transaction(entry: JournalEntry, names: Mapping[tuple[str, str], str]) -> list[str]:
    links = [link(entry.entry_key)] + ([link(entry.reverses)] if entry.reverses else [])
    head = f"{entry.date.isoformat()} * {_string(entry.memo or entry.entry_key)} " + " ".join(f"^{l}" for l in links)
    lines = [head, f"  entry_key: {_string(entry.entry_key)}", f"  legal_entity: {_string(entry.legal_entity)}"]
    if entry.source_type:
        lines.append(f"  source: {_string(f'{entry.source_type}:{entry.source_id}')}")
    if entry.reverses:
        lines.append(f"  reverses: {_string(entry.reverses)}")
    for line in entry.lines:
        lines.append(f"  {names[(entry.legal_entity, line.account)]}  {_amount(line.amount)} {entry.currency}")
        if line.product:
            lines.append(f"    product: {_string(line.product)}")
        if line.memo:
            lines.append(f"    memo: {_string(line.memo)}")
    return lines
