"""NetSuite: a journal entry posted as a `journalentry` record through the REST record API (SuiteTalk REST).

Documentation followed (Oracle NetSuite Help Center): "Journal Entry" (REST record `journalentry`, body
fields and the `line` sublist), "Use Case for Creating a Journal Entry" (`POST /record/v1/journalentry`
with `subsidiary`, `line.items[].account/debit/credit`), "Using External IDs" (`externalId` in the body,
`eid:<id>` in the URL, letters, digits, `_` and `-` only), "Creating a Record Instance" (204 No Content
with a `Location` header) and "Common Errors" ("This record already exists" for a reused external id).

Idempotency: the entry key becomes the record's `externalId`. `post` looks the key up by `eid:` first
(reconcile before retry), and NetSuite itself refuses a second record with the same external id, which
covers two attempts racing; either way the existing record is read back and must hold the same lines.
Entry keys contain `:`, which an external id may not, so the key is escaped reversibly: `_` becomes `_5F`
and any other character outside `[A-Za-z0-9-]` becomes `_XX` (its UTF-8 bytes in hex):
`invoice:12:issued` -> `invoice_3A12_3Aissued`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import quote

from invoiceflow.effects.errors import Permanent
from invoiceflow.ledger.entries import JournalEntry
from invoiceflow.ledger.connectors.base import ErpEntry, ErpLine, ExternalRef
from invoiceflow.ledger.vendors.http import (Built, HttpSender, dumps, error_detail, inverse, loads, mapped,
                                             settle)

VENDOR = "NetSuite"
RECORD = "/services/rest/record/v1/journalentry"
_SAFE = re.compile(r"[A-Za-z0-9-]")


@dataclass(frozen=True, slots=True)
class NetSuiteConfig:
    """Where and as whom to post, and the NetSuite internal ids of our entities, currencies and accounts."""

    base_url: str  # https://<account id>.suitetalk.api.netsuite.com
    authorization: str  # the Authorization header, e.g. "Bearer <OAuth 2.0 access token>"
    subsidiaries: Mapping[str, str]  # legal entity code -> subsidiary internal id
    currencies: Mapping[str, str]  # ISO 4217 code -> currency internal id
    accounts: Mapping[str, str] = field(default_factory=dict)  # account code -> internal id (default: the code)
    timeout: float = 30.0


def external_id(entry_key: str) -> str:
    """The entry key as a NetSuite external id (reversible escaping; see the module docstring)."""
    return "".join(ch if _SAFE.fullmatch(ch) else "".join(f"_{b:02X}" for b in ch.encode()) for ch in entry_key)


def _line_memo(memo: str, product: str | None) -> str:
    return " ".join(part for part in (memo, f"[product {product}]" if product else "") if part)


def build(entry: JournalEntry, config: NetSuiteConfig) -> Built:
    """The create request for `entry` (pure: no I/O, same entry and config give the same request)."""
    items = []
    for line in entry.lines:
        item: dict[str, Any] = {"account": {"id": config.accounts.get(line.account, line.account)}}
        item["debit" if line.debit else "credit"] = line.debit or line.credit
        memo = _line_memo(line.memo, line.product)
        if memo:
            item["memo"] = memo
        items.append(item)
    body = {
        "externalId": external_id(entry.entry_key),
        "subsidiary": {"id": mapped(VENDOR, config.subsidiaries, entry.legal_entity, "subsidiary")},
        "currency": {"id": mapped(VENDOR, config.currencies, entry.currency, "currency")},
        "tranDate": entry.date.isoformat(),
        "memo": entry.memo or entry.entry_key,
        "line": {"items": items},
    }
    headers = {"Authorization": config.authorization, "Content-Type": "application/json",
               "Accept": "application/json"}
    return "POST", RECORD, body, headers


class NetSuiteConnector:
    """The `ErpConnector` for one NetSuite account: post, lookup and read journal entries."""

    name = "netsuite"

    def __init__(self, config: NetSuiteConfig):
        self.config = config
        self.http = HttpSender(VENDOR, config.base_url, config.timeout)
        self._accounts, self._currencies = inverse(config.accounts), inverse(config.currencies)

    def post(self, entry: JournalEntry) -> ExternalRef:
        """Create the record, or return the one an earlier attempt made (looked up first, then NetSuite's
        own duplicate check on the external id covers a concurrent attempt)."""
        operation = f"post {entry.entry_key}"
        found = self.lookup(entry.entry_key)
        if found is not None:
            return settle(self.read(found), entry, VENDOR, operation)
        method, path, body, headers = build(entry, self.config)
        answer = self.http.send(operation, method, path, dumps(body), headers, accept=(201, 204), allow=(400,))
        if answer.status == 400:
            found = self.lookup(entry.entry_key) if b"already exists" in answer.body.lower() else None
            if found is not None:
                return settle(self.read(found), entry, VENDOR, operation)
            raise Permanent(f"{VENDOR}: {operation}: rejected with HTTP 400: {error_detail(answer.body)}")
        location = answer.headers.get("location", "")
        record_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not record_id.isdigit():
            raise Permanent(f"{VENDOR}: {operation}: the answer has no usable Location header ({location!r}), so "
                            "the new record's id is unknown")
        return ExternalRef(self.name, record_id, None, entry.entry_key)

    def lookup(self, entry_key: str) -> ExternalRef | None:
        record = self._get(f"lookup {entry_key}", f"eid:{quote(external_id(entry_key))}")
        return None if record is None else ExternalRef(self.name, str(record["id"]), record.get("tranId"), entry_key)

    def read(self, ref: ExternalRef) -> ErpEntry:
        operation = f"read {ref.entry_key}"
        record = self._get(operation, f"{quote(str(ref.id))}?expandSubResources=true")
        if record is None:
            raise Permanent(f"{VENDOR}: {operation}: journal entry {ref.id} does not exist")
        try:
            lines = tuple(ErpLine(account=self._accounts.get(item["account"]["id"], item["account"]["id"]),
                                  debit=Decimal(item.get("debit") or 0), credit=Decimal(item.get("credit") or 0),
                                  memo=item.get("memo", "")) for item in record["line"]["items"])
            currency = record["currency"]["id"]
            return ErpEntry(ref=ExternalRef(self.name, str(record["id"]), record.get("tranId"), ref.entry_key),
                            date=date.fromisoformat(record["tranDate"]), currency=self._currencies.get(currency,
                            currency), state="posted", lines=lines)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise Permanent(f"{VENDOR}: {operation}: the record lacks or garbles {exc}: {str(record)[:200]}") from exc

    def _get(self, operation: str, which: str) -> dict[str, Any] | None:
        headers = {"Authorization": self.config.authorization, "Accept": "application/json"}
        answer = self.http.send(operation, "GET", f"{RECORD}/{which}", None, headers, accept=(200,), allow=(404,))
        if answer.status == 404:
            return None
        record = loads(VENDOR, operation, answer.body)
        if not isinstance(record, dict) or "id" not in record:
            raise Permanent(f"{VENDOR}: {operation}: not a journal entry record: {str(record)[:200]}")
        return record
