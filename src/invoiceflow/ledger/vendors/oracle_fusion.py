"""Oracle Fusion Cloud General Ledger: a journal entry imported through the journal import (FBDI).

Documentation followed (Oracle Help Center, Oracle Fusion Cloud Financials): "GL_INTERFACE" (the journal
import interface table and its columns), the File-Based Data Import template "Journal Import"
(JournalImportTemplate.xlsm, GL_INTERFACE sheet, exported as GlInterface.csv: positional columns, dates as
YYYY/MM/DD), "Import Financials Data" and the REST resource "ERP Integrations" (`POST
/fscmRestApi/resources/11.13.18.05/erpintegrations`, OperationName `importBulkData`, base64 zip in
DocumentContent, ESS job `JournalImportLauncher`), and the REST resource "Journal Batches" (read batches by
name; child journalHeaders with journalLines to read one back).

Why FBDI: it is Oracle's documented way for an external system to create journals, and one zip carries one
balanced entry. Oracle does not refuse a second import of the same batch, so idempotency is the
connector's: `post` looks the batch up by name first. The batch and journal names (REFERENCE1/REFERENCE4,
100 characters) are the entry key (or `short_reference(key, 100)` for a longer key), and REFERENCE5 (the
journal description, 240 characters) carries the full key. The import runs as an ESS job after the
request returns, so `post` answers with the ESS request id (`request:<id>`) and `read` resolves it to the
batch once the job has run (Transient until then); a retry before the job finished could import twice,
which the effects runner's backoff makes unlikely but not impossible (docs/erp.md says so).
"""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from invoiceflow.effects.errors import Permanent, Transient
from invoiceflow.ledger.connectors.base import ErpEntry, ErpLine, ExternalRef
from invoiceflow.ledger.entries import JournalEntry
from invoiceflow.ledger.vendors.http import (Built, HttpSender, dumps, inverse, loads, mapped, settle,
                                             short_reference)

VENDOR = "Oracle Fusion"
REST = "/fscmRestApi/resources/11.13.18.05"
JOB = "/oracle/apps/ess/financials/generalLedger/programs/common,JournalImportLauncher"
SEGMENTS = 30
COLUMNS = ("STATUS", "LEDGER_ID", "ACCOUNTING_DATE", "USER_JE_SOURCE_NAME", "USER_JE_CATEGORY_NAME",
           "CURRENCY_CODE", "DATE_CREATED", "ACTUAL_FLAG", *(f"SEGMENT{i}" for i in range(1, SEGMENTS + 1)),
           "ENTERED_DR", "ENTERED_CR", "ACCOUNTED_DR", "ACCOUNTED_CR",
           *(f"REFERENCE{i}" for i in range(1, 11)))
NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class OracleConfig:
    """The pod, the Authorization header, ledgers per legal entity and the journal source and category."""

    base_url: str  # https://<pod>.fa.<region>.oraclecloud.com
    authorization: str  # "Basic ..." or "Bearer ..."
    ledgers: Mapping[str, str]  # legal entity code -> LedgerId
    data_access_set_id: str
    journal_source: str = "invoiceflow"  # UserJeSourceName: a journal source defined in the ledger
    journal_category: str = "Sales"  # UserJeCategoryName
    accounts: Mapping[str, Sequence[str]] = field(default_factory=dict)  # code -> segment values (default: code)
    timeout: float = 60.0


def batch_name(entry_key: str) -> str:
    return entry_key if len(entry_key) <= NAME_LENGTH else short_reference(entry_key, NAME_LENGTH)


def _slash(day: date) -> str:
    return day.strftime("%Y/%m/%d")


def gl_interface_rows(entry: JournalEntry, config: OracleConfig, created: date) -> list[list[str]]:
    """The GL_INTERFACE rows (one per line), in the template's column order."""
    ledger = mapped(VENDOR, config.ledgers, entry.legal_entity, "ledger")
    name = batch_name(entry.entry_key)
    rows = []
    for line in entry.lines:
        segments = list(config.accounts.get(line.account, (line.account,)))
        if not 1 <= len(segments) <= SEGMENTS:
            raise Permanent(f"{VENDOR}: build: account {line.account!r} needs 1-{SEGMENTS} segment values")
        values = {"STATUS": "NEW", "LEDGER_ID": ledger, "ACCOUNTING_DATE": _slash(entry.date),
                  "USER_JE_SOURCE_NAME": config.journal_source, "USER_JE_CATEGORY_NAME": config.journal_category,
                  "CURRENCY_CODE": entry.currency, "DATE_CREATED": _slash(created), "ACTUAL_FLAG": "A",
                  "ENTERED_DR": format(line.debit, "f") if line.debit else "",
                  "ENTERED_CR": format(line.credit, "f") if line.credit else "",
                  "REFERENCE1": name, "REFERENCE2": (entry.memo or entry.entry_key)[:240], "REFERENCE4": name,
                  "REFERENCE5": entry.entry_key, "REFERENCE10": " ".join(
                      p for p in (line.memo, f"[{line.product}]" if line.product else "") if p)[:240]}
        values.update({f"SEGMENT{i}": value for i, value in enumerate(segments, start=1)})
        rows.append([values.get(column, "") for column in COLUMNS])
    return rows


def build(entry: JournalEntry, config: OracleConfig, *, at: datetime | None = None) -> Built:
    """The importBulkData request carrying GlInterface.csv in a zip (pure and byte-for-byte repeatable)."""
    created = (at.astimezone(timezone.utc).date() if at else entry.date)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(gl_interface_rows(entry, config, created))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(zipfile.ZipInfo("GlInterface.csv", date_time=(1980, 1, 1, 0, 0, 0)), text.getvalue())
    ledger = config.ledgers[entry.legal_entity]
    body = {"OperationName": "importBulkData",
            "DocumentContent": base64.b64encode(archive.getvalue()).decode(),
            "ContentType": "zip", "FileName": f"invoiceflow_{short_reference(entry.entry_key, 20)}.zip",
            "DocumentAccount": "fin$/generalLedger$/import$", "JobName": JOB,
            "ParameterList": f"{config.data_access_set_id},{config.journal_source},{ledger},ALL,N,N,N",
            "CallbackURL": "#NULL", "NotificationCode": "10",
            "JobOptions": "InterfaceDetails=15,ImportOption=Y,PurgeOption=Y,ExtractFileType=ALL"}
    headers = {"Authorization": config.authorization, "Accept": "application/json",
               "Content-Type": "application/vnd.oracle.adf.resourceitem+json"}
    return "POST", f"{REST}/erpintegrations", body, headers


class OracleConnector:
    """The `ErpConnector` for one Oracle Fusion pod: import, lookup and read journal batches."""

    name = "oracle_fusion"

    def __init__(self, config: OracleConfig):
        self.config = config
        self.http = HttpSender(VENDOR, config.base_url, config.timeout)
        self._accounts = inverse({code: tuple(v) for code, v in config.accounts.items()})

    def post(self, entry: JournalEntry, *, at: datetime | None = None) -> ExternalRef:
        operation = f"post {entry.entry_key}"
        found = self.lookup(entry.entry_key)
        if found is not None:
            return settle(self.read(found), entry, VENDOR, operation)
        method, path, body, headers = build(entry, self.config, at=at)
        answer = self.http.send(operation, method, path, dumps(body), headers, accept=(200, 201))
        data = loads(VENDOR, operation, answer.body)
        request_id = str(data.get("ReqstId") or "") if isinstance(data, dict) else ""
        if not request_id.isdigit():
            raise Permanent(f"{VENDOR}: {operation}: the answer has no ESS request id (ReqstId): {str(data)[:200]}")
        # The journal exists once the import job has run; until then the ref names the ESS request.
        return ExternalRef(self.name, f"request:{request_id}", batch_name(entry.entry_key), entry.entry_key)

    def lookup(self, entry_key: str) -> ExternalRef | None:
        where = quote(f"BatchName='{batch_name(entry_key)}'")
        items = self._items(f"lookup {entry_key}", f"{REST}/journalBatches?q={where}&onlyData=true")
        if not items:
            return None
        return ExternalRef(self.name, str(items[0].get("JournalBatchId", "")), batch_name(entry_key), entry_key)

    def read(self, ref: ExternalRef) -> ErpEntry:
        operation = f"read {ref.entry_key}"
        if str(ref.id).startswith("request:"):
            found = self.lookup(ref.entry_key)
            if found is None:
                raise Transient(f"{VENDOR}: {operation}: the import ({ref.id}) has not created the batch yet")
            ref = found
        headers = self._items(operation, f"{REST}/journalBatches/{quote(str(ref.id))}/child/journalHeaders"
                                         "?expand=journalLines&onlyData=true")
        if len(headers) != 1:
            raise Permanent(f"{VENDOR}: {operation}: batch {ref.number} holds {len(headers)} journals, not one")
        journal = headers[0]
        try:
            lines = tuple(ErpLine(account=self._accounts.get(line["AccountCombination"], line["AccountCombination"]),
                                  debit=Decimal(line.get("EnteredDebitAmount") or 0),
                                  credit=Decimal(line.get("EnteredCreditAmount") or 0),
                                  memo=line.get("Description") or "") for line in journal["journalLines"])
            return ErpEntry(ref=ref, date=date.fromisoformat(journal["AccountingDate"]),
                            currency=journal["CurrencyCode"], state=str(journal.get("Status", "")), lines=lines)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise Permanent(f"{VENDOR}: {operation}: the journal lacks or garbles {exc}: {str(journal)[:200]}") \
                from exc

    def _items(self, operation: str, path: str) -> list[dict[str, Any]]:
        headers = {"Authorization": self.config.authorization, "Accept": "application/json"}
        answer = self.http.send(operation, "GET", path, None, headers, accept=(200,))
        data = loads(VENDOR, operation, answer.body)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise Permanent(f"{VENDOR}: {operation}: no items list in the answer: {str(data)[:200]}")
        return items
