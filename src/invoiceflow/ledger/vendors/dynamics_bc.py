"""Microsoft Dynamics 365 Business Central: a journal entry as general journal lines (API v2.0).

Documentation followed (Microsoft Learn, Business Central API v2.0): "journalLine resource type" (properties
accountType, accountNumber, postingDate, documentNumber, amount, description, comment), "Create
journalLines" (`POST companies({id})/journals({id})/journalLines`), "Using OData $batch requests" (JSON
batch; `Isolation: snapshot` makes the batch all-or-nothing), "generalLedgerEntry resource type" (read
posted entries by documentNumber) and "Working with API limits" (429 with Retry-After).

Why a batch: one entry is several journal lines, and a half-created entry must never be left behind, so
all lines go in one atomic `$batch`. The amount is signed, as Business Central's journals expect (debit
positive, credit negative). Business Central does not refuse a repeated documentNumber, so idempotency is
the connector's: `post` looks the entry up first (journal lines, then posted G/L entries, so it stays
idempotent after someone posts the journal). documentNumber is a Code[20], so it holds
`short_reference(key, 20)` and the full key travels in `comment`. Journal lines of API v2.0 have no
currency field, so only entries in the company's local currency are sent; others are refused up front.
Lines are created, not posted: posting the journal batch stays a Business Central user's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import quote

from invoiceflow.effects.errors import Permanent, Transient
from invoiceflow.ledger.entries import JournalEntry
from invoiceflow.ledger.connectors.base import ErpEntry, ErpLine, ExternalRef
from invoiceflow.ledger.vendors.http import (Built, HttpSender, dumps, error_detail, inverse, loads, mapped,
                                             settle, short_reference)

VENDOR = "Business Central"
API = "/api/v2.0"
DOCUMENT_NUMBER_LENGTH = 20
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BusinessCentralConfig:
    """The environment's API root, the Authorization header, and per legal entity a company and journal."""

    base_url: str  # https://api.businesscentral.dynamics.com/v2.0/<tenant>/<environment>
    authorization: str  # "Bearer <Microsoft Entra access token>"
    companies: Mapping[str, str]  # legal entity code -> company id (GUID)
    journals: Mapping[str, str]  # legal entity code -> journal id (GUID) of the journal batch to fill
    currencies: Mapping[str, str]  # legal entity code -> the company's local currency (LCY)
    accounts: Mapping[str, str] = field(default_factory=dict)  # account code -> G/L account no. (default: code)
    timeout: float = 30.0


def document_number(entry_key: str) -> str:
    return short_reference(entry_key, DOCUMENT_NUMBER_LENGTH)


def build(entry: JournalEntry, config: BusinessCentralConfig) -> Built:
    """One atomic JSON `$batch` creating a journal line per entry line (pure)."""
    company = mapped(VENDOR, config.companies, entry.legal_entity, "company")
    local = mapped(VENDOR, config.currencies, entry.legal_entity, "local currency")
    if entry.currency != local:
        raise Permanent(f"{VENDOR}: build: {entry.entry_key} is in {entry.currency}, but journal lines of API "
                        f"v2.0 have no currency field and post in the company's local currency {local}")
    journal = mapped(VENDOR, config.journals, entry.legal_entity, "journal")
    url = f"companies({company})/journals({journal})/journalLines"
    requests = []
    for position, line in enumerate(entry.lines, start=1):
        description = " ".join(p for p in (line.memo or entry.memo, f"[{line.product}]" if line.product else "")
                               if p)
        requests.append({"method": "POST", "id": str(position), "url": url,
                         "headers": {"Content-Type": "application/json"},
                         "body": {"accountType": "G/L Account",
                                  "accountNumber": config.accounts.get(line.account, line.account),
                                  "postingDate": entry.date.isoformat(),
                                  "documentNumber": document_number(entry.entry_key),
                                  "amount": line.amount, "description": description[:100],
                                  "comment": entry.entry_key}})
    headers = {"Authorization": config.authorization, "Content-Type": "application/json",
               "Accept": "application/json", "Isolation": "snapshot"}
    return "POST", f"{API}/$batch", {"requests": requests}, headers


class BusinessCentralConnector:
    """The `ErpConnector` for Business Central companies: post, lookup and read journal entries."""

    name = "dynamics_bc"

    def __init__(self, config: BusinessCentralConfig):
        self.config = config
        self.http = HttpSender(VENDOR, config.base_url, config.timeout)
        self._accounts, self._entities = inverse(config.accounts), inverse(config.companies)

    def post(self, entry: JournalEntry) -> ExternalRef:
        operation = f"post {entry.entry_key}"
        found = self.lookup(entry.entry_key)
        if found is not None:
            return settle(self.read(found), entry, VENDOR, operation)
        method, path, body, headers = build(entry, self.config)
        answer = self.http.send(operation, method, path, dumps(body), headers, accept=(200,))
        data = loads(VENDOR, operation, answer.body)
        responses = data.get("responses") if isinstance(data, dict) else None
        if not isinstance(responses, list) or len(responses) != len(body["requests"]):
            raise Permanent(f"{VENDOR}: {operation}: expected {len(body['requests'])} batch responses, got "
                            f"{str(data)[:200]}")
        for response in responses:
            status = int(response.get("status", 0))
            if status >= 300:
                cause = (f"{VENDOR}: {operation}: journal line {response.get('id')}: HTTP {status}: "
                         f"{error_detail(dumps(response.get('body') or {}))}")
                raise Transient(cause) if status == 429 or status >= 500 else Permanent(cause)
        company = self.config.companies[entry.legal_entity]
        number = document_number(entry.entry_key)
        return ExternalRef(self.name, f"{company}/{number}", number, entry.entry_key)

    def lookup(self, entry_key: str) -> ExternalRef | None:
        number = document_number(entry_key)
        for entity, company in sorted(self.config.companies.items()):
            if self._lines(f"lookup {entry_key}", entity, number):
                return ExternalRef(self.name, f"{company}/{number}", number, entry_key)
        return None

    def read(self, ref: ExternalRef) -> ErpEntry:
        operation = f"read {ref.entry_key}"
        company, number = str(ref.id).split("/", 1)
        entity = self._entities.get(company)
        rows = self._lines(operation, entity, number) if entity else []
        if not rows:
            raise Permanent(f"{VENDOR}: {operation}: no journal lines or G/L entries with document number "
                            f"{number} in company {company}")
        try:
            lines = []
            for row in rows:  # journal lines carry a signed amount, posted G/L entries debit and credit
                debit = Decimal(row["debitAmount"]) if "debitAmount" in row else max(Decimal(row["amount"]), ZERO)
                credit = Decimal(row["creditAmount"]) if "creditAmount" in row else max(-Decimal(row["amount"]),
                                                                                         ZERO)
                account = str(row["accountNumber"])
                lines.append(ErpLine(self._accounts.get(account, account), debit, credit,
                                     memo=row.get("description") or ""))
            state = "posted" if "debitAmount" in rows[0] else "journal"
            return ErpEntry(ref=ref, date=date.fromisoformat(rows[0]["postingDate"]),
                            currency=self.config.currencies[entity], state=state, lines=tuple(lines))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise Permanent(f"{VENDOR}: {operation}: a line lacks or garbles {exc}: {str(rows[0])[:200]}") from exc

    def _lines(self, operation: str, entity: str, number: str) -> list[dict[str, Any]]:
        """Unposted journal lines with this document number, else the G/L entries it was posted as."""
        company, journal = self.config.companies[entity], self.config.journals.get(entity)
        where = quote(f"documentNumber eq '{number}'")
        headers = {"Authorization": self.config.authorization, "Accept": "application/json"}
        paths = [f"{API}/companies({company})/journals({journal})/journalLines"] if journal else []
        for path in paths + [f"{API}/companies({company})/generalLedgerEntries"]:
            answer = self.http.send(operation, "GET", f"{path}?$filter={where}", None, headers, accept=(200,))
            data = loads(VENDOR, operation, answer.body)
            rows = data.get("value") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise Permanent(f"{VENDOR}: {operation}: no value list in the answer: {str(data)[:200]}")
            if rows:
                return rows
        return []
