"""SAP S/4HANA Cloud: a journal entry posted with the SOAP service "Journal Entry - Post (Synchronous)".

Documentation followed (SAP Business Accelerator Hub / SAP Help Portal): "Journal Entry - Post
(Synchronous)" (inbound service JournalEntryCreateRequestConfirmation_In, communication scenario
SAP_COM_0002, request `JournalEntryBulkCreateRequest` in namespace http://sap.com/xi/SAPSCORE/SFIN with
`JournalEntry` header fields and `Item`s: GLAccount, AmountInTransactionCurrency/@currencyCode,
DebitCreditCode S/H), and "Journal Entry Item - Read" (OData API_JOURNALENTRYITEMBASIC_SRV, entity
A_JournalEntryItemBasic), which is read-only and is used here to find an entry already posted.

Why SOAP: the OData journal-entry API of S/4HANA Cloud only reads; posting is this service, so `build`
returns an XML body where the other vendors return JSON. SAP does not refuse a second document with the
same reference, so idempotency is the connector's: `post` first looks the entry up by its reference
and, when a document carries it, reads it back and requires the same lines.
The reference field (DocumentReferenceID, XBLNR) holds 16 characters, less than an entry key, so it
carries `short_reference(key, 16)`; the key's start is in DocumentHeaderText (25 characters) for people.
Credit items carry negative amounts, debit items positive, as in SAP's own examples.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import quote

from lxml import etree

from invoiceflow.effects.errors import Permanent, Transient, retry_after_seconds
from invoiceflow.ledger.entries import JournalEntry
from invoiceflow.ledger.connectors.base import ErpEntry, ErpLine, ExternalRef
from invoiceflow.ledger.vendors.http import (Built, HttpSender, inverse, loads, mapped, settle,
                                             short_reference)

VENDOR = "SAP S/4HANA Cloud"
POST_PATH = "/sap/bc/srt/scs_ext/sap/journalentrycreaterequestconfi"
READ_PATH = "/sap/opu/odata/sap/API_JOURNALENTRYITEMBASIC_SRV/A_JournalEntryItemBasic"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SFIN = "http://sap.com/xi/SAPSCORE/SFIN"
REFERENCE_LENGTH = 16


@dataclass(frozen=True, slots=True)
class SapConfig:
    """The tenant, the communication user's Authorization header, and our entities' company codes."""

    base_url: str  # https://<tenant>-api.s4hana.cloud.sap
    authorization: str  # e.g. "Basic <communication user:password in base64>"
    company_codes: Mapping[str, str]  # legal entity code -> company code (4 characters)
    accounts: Mapping[str, str] = field(default_factory=dict)  # account code -> G/L account (default: the code)
    document_type: str = "SA"  # AccountingDocumentType: G/L account document
    created_by: str = "INVOICEFLOW"  # CreatedByUser
    timeout: float = 30.0


def reference(entry_key: str) -> str:
    """The DocumentReferenceID for an entry key (16 characters, stable)."""
    return short_reference(entry_key, REFERENCE_LENGTH)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        element.text = text
    return element


def build(entry: JournalEntry, config: SapConfig, *, at: datetime | None = None) -> Built:
    """The SOAP request for `entry` (pure). `at` is the message's creation time (default: the entry's day)."""
    at = at or datetime.combine(entry.date, time(), tzinfo=timezone.utc)
    stamp = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    message_id = hashlib.sha256(entry.entry_key.encode()).hexdigest()[:32].upper()
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soapenv": SOAP, "sfin": SFIN})
    _sub(envelope, f"{{{SOAP}}}Header")
    bulk = _sub(_sub(envelope, f"{{{SOAP}}}Body"), f"{{{SFIN}}}JournalEntryBulkCreateRequest")
    header = _sub(bulk, "MessageHeader")
    _sub(header, "ID", message_id)
    _sub(header, "CreationDateTime", stamp)
    request = _sub(bulk, "JournalEntryCreateRequest")
    inner = _sub(request, "MessageHeader")
    _sub(inner, "ID", message_id)
    _sub(inner, "CreationDateTime", stamp)
    journal = _sub(request, "JournalEntry")
    for tag, value in (("OriginalReferenceDocumentType", "BKPFF"), ("BusinessTransactionType", "RFBU"),
                       ("AccountingDocumentType", config.document_type),
                       ("DocumentReferenceID", reference(entry.entry_key)),
                       ("DocumentHeaderText", entry.entry_key[:25]), ("CreatedByUser", config.created_by),
                       ("CompanyCode", mapped(VENDOR, config.company_codes, entry.legal_entity, "company code")),
                       ("DocumentDate", entry.date.isoformat()), ("PostingDate", entry.date.isoformat())):
        _sub(journal, tag, value)
    for position, line in enumerate(entry.lines, start=1):
        item = _sub(journal, "Item")
        _sub(item, "ReferenceDocumentItem", str(position))
        _sub(item, "GLAccount", config.accounts.get(line.account, line.account))
        _sub(item, "AmountInTransactionCurrency", format(line.amount, "f"), currencyCode=entry.currency)
        _sub(item, "DebitCreditCode", "S" if line.debit else "H")
        text = " ".join(p for p in (line.memo, f"[{line.product}]" if line.product else "") if p)
        if text:
            _sub(item, "DocumentItemText", text[:50])
    body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8").decode()
    headers = {"Authorization": config.authorization, "Content-Type": "text/xml; charset=utf-8",
               "SOAPAction": '"http://sap.com/xi/SAPSCORE/SFIN/JournalEntryCreateRequestConfirmation_In/'
                             'JournalEntryCreateRequestConfirmation_InRequest"'}
    return "POST", POST_PATH, body, headers


def _xml(body: bytes, operation: str) -> etree._Element:
    try:
        return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise Permanent(f"{VENDOR}: {operation}: the answer is not valid XML ({exc})") from exc


def _local(root: etree._Element, name: str) -> list[etree._Element]:
    return root.xpath(f"//*[local-name()='{name}']")


def _fault(body: bytes, wait: str | None, operation: str) -> Permanent | Transient:
    """HTTP 500 from a SOAP service: a Client fault (the request is wrong) is Permanent; a Server fault or
    any other failure of the server is Transient."""
    try:
        fault = _local(etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True)), "Fault")
    except etree.XMLSyntaxError:
        fault = []
    if not fault:
        return Transient(f"{VENDOR}: {operation}: HTTP 500 from the server, retry later: {body[:200]!r}",
                         retry_after=retry_after_seconds(wait))
    code = fault[0].xpath("string(*[local-name()='faultcode'])")
    text = fault[0].xpath("string(*[local-name()='faultstring'])").strip()
    if code.split(":")[-1] == "Client":
        return Permanent(f"{VENDOR}: {operation}: SOAP fault {code}: {text}")
    return Transient(f"{VENDOR}: {operation}: SOAP fault {code or 'Server'}: {text}", retry_after=retry_after_seconds(wait))


class SapConnector:
    """The `ErpConnector` for one S/4HANA Cloud tenant: post, lookup and read journal entries."""

    name = "sap_s4hana"

    def __init__(self, config: SapConfig):
        self.config = config
        self.http = HttpSender(VENDOR, config.base_url, config.timeout)
        self._accounts = inverse(config.accounts)

    def post(self, entry: JournalEntry, *, at: datetime | None = None) -> ExternalRef:
        operation = f"post {entry.entry_key}"
        found = self.lookup(entry.entry_key)
        if found is not None:
            return settle(self.read(found), entry, VENDOR, operation)
        method, path, body, headers = build(entry, self.config, at=at)
        answer = self.http.send(operation, method, path, body.encode(), headers, accept=(200,), allow=(500,))
        if answer.status == 500:
            raise _fault(answer.body, answer.headers.get("retry-after"), operation)
        root = _xml(answer.body, operation)
        severity = max((int(s.text) for s in _local(root, "MaximumSeverityCode") if (s.text or "").isdigit()),
                       default=0)
        document = next((d.text for d in _local(root, "AccountingDocument") if d.text), "")
        if severity >= 3 or not document.strip("0"):
            notes = "; ".join(n.text or "" for n in _local(root, "Note")) or "no log"
            raise Permanent(f"{VENDOR}: {operation}: not posted: {notes}")
        company = next((c.text for c in _local(root, "CompanyCode") if c.text), "")
        year = next((y.text for y in _local(root, "FiscalYear") if y.text), "")
        return ExternalRef(self.name, f"{company}/{document}/{year}", document, entry.entry_key)

    def lookup(self, entry_key: str) -> ExternalRef | None:
        rows = self._items(f"lookup {entry_key}", f"DocumentReferenceID eq '{reference(entry_key)}'",
                           "CompanyCode,FiscalYear,AccountingDocument", top=1)
        if not rows:
            return None
        row = rows[0]
        return ExternalRef(self.name, f"{row['CompanyCode']}/{row['AccountingDocument']}/{row['FiscalYear']}",
                           row["AccountingDocument"], entry_key)

    def read(self, ref: ExternalRef) -> ErpEntry:
        operation = f"read {ref.entry_key}"
        company, document, year = str(ref.id).split("/")
        rows = self._items(operation, f"CompanyCode eq '{company}' and AccountingDocument eq '{document}' and "
                                      f"FiscalYear eq '{year}' and Ledger eq '0L'",
                           "GLAccount,AmountInTransactionCurrency,TransactionCurrency,DebitCreditCode,PostingDate,"
                           "DocumentItemText")
        if not rows:
            raise Permanent(f"{VENDOR}: {operation}: document {ref.number} has no items in ledger 0L")
        try:
            lines = tuple(ErpLine(account=self._accounts.get(row["GLAccount"], row["GLAccount"]),
                                  debit=abs(Decimal(row["AmountInTransactionCurrency"])) if row[
                                      "DebitCreditCode"] == "S" else Decimal(0),
                                  credit=abs(Decimal(row["AmountInTransactionCurrency"])) if row[
                                      "DebitCreditCode"] == "H" else Decimal(0),
                                  memo=row.get("DocumentItemText") or "") for row in rows)
            return ErpEntry(ref=ref, date=odata_date(rows[0]["PostingDate"]), currency=rows[0]["TransactionCurrency"],
                            state="posted", lines=lines)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise Permanent(f"{VENDOR}: {operation}: an item lacks or garbles {exc}: {str(rows[0])[:200]}") from exc

    def _items(self, operation: str, where: str, fields: str, top: int | None = None) -> list[dict[str, Any]]:
        query = f"$filter={quote(where)}&$select={fields}&$format=json" + (f"&$top={top}" if top else "")
        headers = {"Authorization": self.config.authorization, "Accept": "application/json"}
        answer = self.http.send(operation, "GET", f"{READ_PATH}?{query}", None, headers, accept=(200,))
        data = loads(VENDOR, operation, answer.body)
        try:
            results = data["d"]["results"]
        except (KeyError, TypeError) as exc:
            raise Permanent(f"{VENDOR}: {operation}: no d.results in the answer: {str(data)[:200]}") from exc
        if not isinstance(results, list):
            raise Permanent(f"{VENDOR}: {operation}: d.results is not a list: {str(results)[:200]}")
        return results


def odata_date(value: str) -> date:
    """OData V2's JSON date, `/Date(1775088000000)/` (milliseconds since 1970, UTC), as a date."""
    match = re.fullmatch(r"/Date\((-?\d+)(?:[+-]\d+)?\)/", value)
    if match is None:
        raise ValueError(f"not an OData date: {value!r}")
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc).date()
