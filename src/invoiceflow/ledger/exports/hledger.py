"""Journal entries as an hledger journal that `hledger check --strict` accepts.

Why each part is there: `--strict` refuses undeclared accounts and commodities, so every account used is
declared with its type tag (`type: A|L|E|R|X`, which hledger's balance sheet and income statement read),
and every currency with a `commodity` directive whose sample amount fixes its decimal places (JPY 0,
KWD 3): without it hledger infers the precision from the amounts it happens to see, and `1.500 KWD` could
even be read with `.` as a thousands separator, which `decimal-mark .` rules out. Each transaction carries
the entry key as its code, `(invoice:12:issued)`, and as an `entry_key:` tag. hledger has no escape for
`)` in a code or `,` in a tag value, so those two characters are written there as `]` and `.`; the
beancount export keeps every key byte for byte.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping, Sequence

from invoiceflow.ledger.entries import JournalEntry
from invoiceflow.ledger.exports.naming import AccountInfo, account_names, in_date_order, one_line
from invoiceflow.money import exponent

TYPE_TAGS = {"asset": "A", "liability": "L", "equity": "E", "revenue": "R", "expense": "X"}


def commodity_directive(currency: str) -> str:
    """`commodity 1000.00 EUR`: the sample amount's decimals are the currency's ISO 4217 exponent.

    hledger insists on a decimal mark in the sample even with no decimals, hence `commodity 1000. JPY`.
    """
    return f"commodity 1000.{'0' * exponent(currency)} {currency}"


def _text(text: str) -> str:
    """Description and comment text: one line, and no `;`, which would start a comment."""
    return one_line(text).replace(";", ",")


def _tag_value(text: str) -> str:
    return _text(text).replace(",", ".")


def _amount(value: Decimal, currency: str) -> str:
    return f"{format(value, 'f')} {currency}"


def render_hledger(entries: Sequence[JournalEntry], accounts: Mapping[tuple[str, str], AccountInfo]) -> str:
    """The whole journal: decimal mark, commodities, typed account declarations, transactions by date."""
    ordered = in_date_order(entries)
    names = account_names(ordered, accounts)
    currencies = sorted({entry.currency for entry in ordered})
    used = sorted({(entry.legal_entity, line.account) for entry in ordered for line in entry.lines},
                  key=lambda key: names[key])
    out = [f"; Exported by invoiceflow: {len(ordered)} journal entries. Check with: hledger -f FILE check --strict",
           "decimal-mark .", ""]
    out += [commodity_directive(currency) for currency in currencies]
    if currencies:
        out.append("")
    for key in used:
        info = accounts[key]
        out.append(f"account {names[key]}  ; type: {TYPE_TAGS[info.type]}, legal_entity: "
                   f"{_tag_value(info.legal_entity)}, code: {_tag_value(info.code)}")
    for entry in ordered:
        out.append("")
        out.extend(_transaction(entry, names))
    return "\n".join(out) + "\n"


def _transaction(entry: JournalEntry, names: Mapping[tuple[str, str], str]) -> list[str]:
    code = one_line(entry.entry_key).replace(")", "]")
    tags = [f"entry_key: {_tag_value(entry.entry_key)}", f"legal_entity: {_tag_value(entry.legal_entity)}"]
    if entry.source_type:
        tags.append(f"source: {_tag_value(f'{entry.source_type}:{entry.source_id}')}")
    if entry.reverses:
        tags.append(f"reverses: {_tag_value(entry.reverses)}")
    lines = [f"{entry.date.isoformat()} * ({code}) {_text(entry.memo or entry.entry_key)}  ; {', '.join(tags)}"]
    for line in entry.lines:
        posting = f"    {names[(entry.legal_entity, line.account)]}  {_amount(line.amount, entry.currency)}"
        notes = [_text(line.memo)] if line.memo else []
        if line.product:
            notes.append(f"product: {_tag_value(line.product)}")
        lines.append(posting + (f"  ; {', '.join(notes)}" if notes else ""))
    return lines
