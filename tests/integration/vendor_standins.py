"""Local HTTP stand-ins for NetSuite, SAP S/4HANA Cloud, Business Central and Oracle Fusion.

Each is a real HTTP server on 127.0.0.1 (stdlib http.server in a thread) that checks every request against
the shape the vendor documents (required fields, types, date formats, lengths, decimals per currency,
debits equal to credits), answers in the vendor's documented response shape, stores what it accepted so a
test can read it back, and can be told to fail the next request (or the next POST): "timeout" (no
answer), "lost" (done, but the answer comes too late), "500", "429" (Retry-After: 7), "401" or
"malformed". They are written from the documentation, independently of the connectors (nothing is
imported from invoiceflow.ledger.vendors), so a payload a connector gets wrong is refused here.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import threading
import uuid
import zipfile
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from lxml import etree

TOKEN = "Bearer test-token"
PLACES = {"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3}
STALL = 1.5  # seconds a "timeout" fault holds the answer: longer than the tests' client timeout
MALFORMED = b"<html><body><h1>Bad gateway"  # neither JSON nor well-formed XML
JSON_TYPE = {"Content-Type": "application/json"}


class Invalid(Exception):
    def __init__(self, problems: list[str], status: int = 400):
        super().__init__("; ".join(problems))
        self.problems, self.status = problems, status


def enc(value: Any) -> bytes:
    return json.dumps(value, default=lambda v: format(v, "f") if isinstance(v, Decimal) else str(v)).encode()


def number_json(value: Any) -> bytes:
    """JSON with Decimals as numbers (what a JSON API sends), not strings."""
    text = json.dumps(value, default=lambda v: f"@@{format(v, 'f')}@@")
    return re.sub(r'"@@(-?[0-9.]+)@@"', r"\1", text).encode()


def amount(value: Any, where: str, currency: str | None, problems: list[str], *, signed: bool = False) -> Decimal:
    """A JSON number (or numeric text) with no more decimals than the currency has."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or (not signed and number <= 0):
        problems.append(f"{where}: {value!r} is not a {'non-zero' if signed else 'positive'} amount")
        return Decimal(0)
    if currency in PLACES and -number.as_tuple().exponent > PLACES[currency]:
        problems.append(f"{where}: {number} has more decimals than {currency} allows ({PLACES[currency]})")
    return number


def iso_date(value: Any, where: str, problems: list[str], fmt: str = "%Y-%m-%d") -> date | None:
    try:
        return datetime.strptime(value, fmt).date()
    except (TypeError, ValueError):
        problems.append(f"{where}: {value!r} is not a date in the format {fmt}")
        return None


class StandIn:
    vendor = ""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self._faults: list[tuple[str, str | None]] = []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, fault: str, *, method: str | None = None) -> None:
        """Fail the next request, or the next one with this HTTP method (POST: the write, not a lookup)."""
        self._faults.append((fault, method))

    def dispatch(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            self.requests.append((method, path))
            due = next((i for i, (_, only) in enumerate(self._faults) if only in (None, method)), None)
            fault = self._faults.pop(due)[0] if due is not None else None
        if fault == "timeout":
            self._stop.wait(STALL)
            return 504, {}, b""
        if fault == "500":
            return self.error(500, "INTERNAL_ERROR", "An unexpected error occurred on the server")
        if fault == "429":
            status, extra, payload = self.error(429, "TOO_MANY_REQUESTS", "Request limit exceeded")
            return status, {**extra, "Retry-After": "7"}, payload
        if fault == "malformed":
            return 200, JSON_TYPE, MALFORMED
        if fault == "401" or headers.get("Authorization") != TOKEN:
            return self.error(401, "INVALID_LOGIN", "Invalid login attempt")
        url = urlsplit(path)
        try:
            with self._lock:
                answer = self.handle(method, unquote(url.path), parse_qs(url.query), headers, body)
        except Invalid as exc:
            answer = self.error(exc.status, "USER_ERROR", "; ".join(exc.problems))
        if fault == "lost":
            self._stop.wait(STALL)
        return answer

    def handle(self, method: str, path: str, query: dict, headers: Any, body: bytes) -> tuple[int, dict, bytes]:
        raise NotImplementedError

    def error(self, status: int, code: str, detail: str) -> tuple[int, dict, bytes]:
        return status, JSON_TYPE, enc({"title": detail, "status": status})

    def json_body(self, headers: Any, body: bytes, *types: str) -> Any:
        if not any(t in (headers.get("Content-Type") or "") for t in types or ("application/json",)):
            raise Invalid([f"Content-Type {headers.get('Content-Type')!r} is not JSON"], 415)
        try:
            return json.loads(body, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise Invalid([f"the body is not JSON: {exc}"]) from exc


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, payload = standin.dispatch(self.command, self.path, self.headers, body)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a "timeout" fault)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class NetSuiteStandIn(StandIn):
    """REST record API `journalentry`: create (204 + Location), get by id or `eid:`, duplicate external ids
    refused with "This record already exists", sublists only with `expandSubResources=true`."""

    vendor = "NetSuite"
    RECORD = "/services/rest/record/v1/journalentry"

    def __init__(self, currencies: dict[str, str]):
        super().__init__()
        self.currencies, self.records = currencies, {}  # currency internal id -> ISO code; id -> record

    def error(self, status, code, detail):
        titles = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 415: "Unsupported Media Type"}
        return status, {"Content-Type": "application/vnd.oracle.resource+json; type=error"}, enc({
            "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15", "title": titles.get(status, "Error"),
            "status": status, "o:errorDetails": [{"detail": detail, "o:errorCode": code}]})

    def handle(self, method, path, query, headers, body):
        if method == "POST" and path == self.RECORD:
            return self._create(self.json_body(headers, body))
        if method == "GET" and path.startswith(self.RECORD + "/"):
            which = path[len(self.RECORD) + 1:]
            found = [r for r in self.records.values()
                     if (which.startswith("eid:") and r.get("externalId") == which[4:]) or r["id"] == which]
            if not found:
                return self.error(404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid "
                                                         "record instance ID.")
            record = dict(found[0])
            if query.get("expandSubResources") != ["true"]:
                record["line"] = {"links": [{"rel": "self", "href": f"{self.RECORD}/{record['id']}/line"}]}
            return 200, JSON_TYPE, number_json(record)
        return self.error(404, "INVALID_URL", f"no resource at {method} {path}")

    def _create(self, record: Any) -> tuple[int, dict, bytes]:
        problems: list[str] = []
        if not isinstance(record, dict):
            raise Invalid(["the body must be a JSON object"])
        if not isinstance((record.get("subsidiary") or {}).get("id"), str):
            problems.append("Please enter value(s) for: Subsidiary (subsidiary.id)")
        currency = self.currencies.get((record.get("currency") or {}).get("id"))
        if "currency" in record and currency is None:
            problems.append(f"currency: unknown currency reference {record['currency']!r}")
        if "tranDate" in record:
            iso_date(record["tranDate"], "tranDate", problems)
        eid = record.get("externalId")
        if eid is not None and not (isinstance(eid, str) and re.fullmatch(r"[A-Za-z0-9_-]+", eid)):
            problems.append(f"externalId {eid!r}: only letters, numbers, underscore and hyphen are allowed")
        items = (record.get("line") or {}).get("items")
        if not isinstance(items, list) or len(items) < 2:
            raise Invalid(problems + ["line.items: a journal entry needs at least two lines"])
        totals = [Decimal(0), Decimal(0)]
        for n, item in enumerate(items):
            if not isinstance((item.get("account") or {}).get("id"), str):
                problems.append(f"line.items[{n}].account.id is required")
            sides = [side for side in ("debit", "credit") if side in item]
            if len(sides) != 1:
                problems.append(f"line.items[{n}]: exactly one of debit and credit, got {sides}")
                continue
            totals[sides[0] == "credit"] += amount(item[sides[0]], f"line.items[{n}].{sides[0]}", currency, problems)
        if totals[0] != totals[1]:
            problems.append(f"The total debits ({totals[0]}) must equal the total credits ({totals[1]})")
        if problems:
            raise Invalid(problems)
        if eid is not None and any(r.get("externalId") == eid for r in self.records.values()):
            raise Invalid([f"Error while accessing a resource. This record already exists (externalId {eid})."])
        rid = str(100 + len(self.records))
        self.records[rid] = {**record, "id": rid, "tranId": f"JE{rid}",
                             "line": {"items": items, "totalResults": len(items)}}
        return 204, {"Location": f"{self.base_url}{self.RECORD}/{rid}"}, b""


SOAP, SFIN = "http://schemas.xmlsoap.org/soap/envelope/", "http://sap.com/xi/SAPSCORE/SFIN"


class SapStandIn(StandIn):
    """Journal Entry - Post (Synchronous) (SOAP) and Journal Entry Item - Read (OData V2). Structural errors
    are SOAP Client faults (HTTP 500); business errors a confirmation with severity 3 and no document."""

    vendor = "SAP"
    POST = "/sap/bc/srt/scs_ext/sap/journalentrycreaterequestconfi"
    READ = "/sap/opu/odata/sap/API_JOURNALENTRYITEMBASIC_SRV/A_JournalEntryItemBasic"
    HEADER = ("OriginalReferenceDocumentType", "BusinessTransactionType", "AccountingDocumentType",
              "CreatedByUser", "CompanyCode", "DocumentDate", "PostingDate")

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict] = []
        self.documents = 0

    def handle(self, method, path, query, headers, body):
        if method == "POST" and path == self.POST:
            if "xml" not in (headers.get("Content-Type") or ""):
                return self._fault("Client", f"Content-Type {headers.get('Content-Type')!r} is not XML")
            try:
                root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
            except etree.XMLSyntaxError as exc:
                return self._fault("Client", f"XML parsing error: {exc}")
            return self._post(root)
        if method == "GET" and path == self.READ:
            clauses = re.findall(r"(\w+) eq '([^']*)'", (query.get("$filter") or [""])[0])
            rows = [row for row in self.items if all(row.get(f) == v for f, v in clauses)]
            rows = rows[: int(query["$top"][0])] if "$top" in query else rows
            return 200, JSON_TYPE, enc({"d": {"results": rows}})
        return 404, {}, b"Not found"

    def _fault(self, code: str, text: str) -> tuple[int, dict, bytes]:
        return 500, {"Content-Type": "text/xml"}, (
            f'<soap-env:Envelope xmlns:soap-env="{SOAP}"><soap-env:Body><soap-env:Fault><faultcode>soap-env:{code}'
            f'</faultcode><faultstring xml:lang="en">{text}</faultstring></soap-env:Fault></soap-env:Body>'
            "</soap-env:Envelope>").encode()

    def _post(self, root: etree._Element) -> tuple[int, dict, bytes]:
        request = root.find(f"{{{SOAP}}}Body/{{{SFIN}}}JournalEntryBulkCreateRequest")
        journal = request.find("JournalEntryCreateRequest/JournalEntry") if request is not None else None
        missing = [] if journal is not None else ["Body/JournalEntryBulkCreateRequest/.../JournalEntry"]
        if request is not None:
            missing += [f"MessageHeader/{t}" for t in ("ID", "CreationDateTime")
                        if not request.findtext(f"MessageHeader/{t}")]
        if journal is not None:
            missing += [t for t in self.HEADER if not journal.findtext(t)]
            for n, item in enumerate(journal.findall("Item"), start=1):
                missing += [f"Item[{n}]/{t}" for t in ("GLAccount", "AmountInTransactionCurrency", "DebitCreditCode")
                            if not item.findtext(t)]
                if item.find("AmountInTransactionCurrency") is not None and \
                        not item.find("AmountInTransactionCurrency").get("currencyCode"):
                    missing.append(f"Item[{n}]/AmountInTransactionCurrency/@currencyCode")
        if missing:
            return self._fault("Client", "Schema validation: required element missing: " + ", ".join(missing))
        problems: list[str] = []
        iso_date(journal.findtext("DocumentDate"), "DocumentDate", problems)
        posting = iso_date(journal.findtext("PostingDate"), "PostingDate", problems)
        for tag, limit in (("DocumentReferenceID", 16), ("DocumentHeaderText", 25), ("CompanyCode", 4)):
            if len(journal.findtext(tag) or "") > limit:
                problems.append(f"{tag} is longer than {limit} characters")
        items, total, currencies = journal.findall("Item"), Decimal(0), set()
        if len(items) < 2:
            problems.append("a journal entry needs at least two items")
        for n, item in enumerate(items, start=1):
            node = item.find("AmountInTransactionCurrency")
            currencies.add(node.get("currencyCode"))
            value = amount(node.text, f"Item[{n}] amount", node.get("currencyCode"), problems, signed=True)
            code = item.findtext("DebitCreditCode")
            if code not in ("S", "H") or (code == "S") != (value > 0):
                problems.append(f"Item[{n}]: DebitCreditCode {code!r} does not match the sign of {value}")
            if len(item.findtext("DocumentItemText") or "") > 50:
                problems.append(f"Item[{n}]: DocumentItemText is longer than 50 characters")
            total += value
        if len(currencies) != 1:
            problems.append(f"one transaction currency per document, got {sorted(map(str, currencies))}")
        if total != 0:
            problems.append(f"Balance in transaction currency is not zero: {total}")
        document, year = "0000000000", ""
        if not problems:
            self.documents += 1
            document, year = f"{100000000 + self.documents:010d}", str(posting.year)
            millis = int(datetime(posting.year, posting.month, posting.day, tzinfo=timezone.utc).timestamp()) * 1000
            for item in items:
                self.items.append({
                    "CompanyCode": journal.findtext("CompanyCode"), "FiscalYear": year, "AccountingDocument": document,
                    "Ledger": "0L", "DocumentReferenceID": journal.findtext("DocumentReferenceID") or "",
                    "GLAccount": item.findtext("GLAccount"), "DebitCreditCode": item.findtext("DebitCreditCode"),
                    "AmountInTransactionCurrency": item.findtext("AmountInTransactionCurrency"),
                    "TransactionCurrency": item.find("AmountInTransactionCurrency").get("currencyCode"),
                    "PostingDate": f"/Date({millis})/", "DocumentItemText": item.findtext("DocumentItemText") or ""})
        notes = "".join(f"<Item><SeverityCode>3</SeverityCode><Note>{p}</Note></Item>" for p in problems) or \
            f"<Item><SeverityCode>1</SeverityCode><Note>Document posted successfully: BKPFF {document}</Note></Item>"
        return 200, {"Content-Type": "text/xml"}, (
            f'<soap-env:Envelope xmlns:soap-env="{SOAP}"><soap-env:Body><n0:JournalEntryBulkCreateConfirmation '
            f'xmlns:n0="{SFIN}"><MessageHeader><ID>R1</ID></MessageHeader><JournalEntryCreateConfirmation>'
            f"<JournalEntryCreateConfirmation><AccountingDocument>{document}</AccountingDocument><CompanyCode>"
            f"{journal.findtext('CompanyCode')}</CompanyCode><FiscalYear>{year}</FiscalYear>"
            f"</JournalEntryCreateConfirmation><Log><MaximumSeverityCode>{3 if problems else 1}</MaximumSeverityCode>"
            f"{notes}</Log></JournalEntryCreateConfirmation></n0:JournalEntryBulkCreateConfirmation>"
            "</soap-env:Body></soap-env:Envelope>").encode()


class BusinessCentralStandIn(StandIn):
    """API v2.0: JSON `$batch` of journalLines (with `Isolation: snapshot`), journalLines and
    generalLedgerEntries read with `$filter=documentNumber eq '...'`; OData errors `{"error": {...}}`."""

    vendor = "Business Central"
    WRITABLE = {"journalId", "lineNumber", "accountType", "accountId", "accountNumber", "postingDate",
                "documentNumber", "externalDocumentNumber", "amount", "description", "comment", "taxCode",
                "balanceAccountType", "balancingAccountId", "balancingAccountNumber"}
    LINES = re.compile(r"(?:/api/v2\.0/)?companies\(([0-9a-f-]{36})\)/journals\(([0-9a-f-]{36})\)/journalLines")

    def __init__(self, journals: dict[tuple[str, str], str]):
        super().__init__()
        self.journals, self.lines = journals, []  # (company, journal) -> local currency; stored lines

    def error(self, status, code, detail):
        code = {401: "Authentication_InvalidCredentials", 429: "Application_TooManyRequests"}.get(status, code)
        return status, JSON_TYPE, enc({"error": {"code": code, "message": detail}})

    def handle(self, method, path, query, headers, body):
        if method == "POST" and path == "/api/v2.0/$batch":
            return self._batch(headers, self.json_body(headers, body))
        match = self.LINES.fullmatch(path)
        ledger = re.fullmatch(r"/api/v2\.0/companies\(([0-9a-f-]{36})\)/generalLedgerEntries", path)
        if method == "GET" and (match or ledger):
            number = re.fullmatch(r"documentNumber eq '([^']*)'", (query.get("$filter") or [""])[0])
            if number is None:
                raise Invalid(["$filter must be documentNumber eq '...'"])
            rows = [] if ledger else [line for line in self.lines if line["documentNumber"] == number.group(1)
                                      and line["journalId"] == match.group(2)]
            return 200, JSON_TYPE, number_json({"@odata.context": path, "value": rows})
        return self.error(404, "BadRequest_NotFound", f"The resource {path} was not found.")

    def _batch(self, headers, batch: Any) -> tuple[int, dict, bytes]:
        if headers.get("Isolation") != "snapshot":
            raise Invalid(["Isolation: snapshot is required so that an entry is created whole or not at all"])
        requests = batch.get("requests") if isinstance(batch, dict) else None
        if not isinstance(requests, list) or not requests:
            raise Invalid(["the batch body must be {\"requests\": [...]}"])
        problems, sums, made = [], {}, []
        for request in requests:
            where, body = f"request {request.get('id')}", request.get("body") or {}
            match = self.LINES.fullmatch(str(request.get("url")))
            currency = self.journals.get(match.groups()) if match else None
            if request.get("method") != "POST" or currency is None:
                problems.append(f"{where}: POST to an existing companies(..)/journals(..)/journalLines is expected")
            unknown = sorted(set(body) - self.WRITABLE)
            if unknown:
                problems.append(f"{where}: The property '{unknown[0]}' does not exist on type "
                                "'Microsoft.NAV.journalLine'. Make sure to only use property names that are defined "
                                "by the type.")
            for name, limit in (("accountNumber", 20), ("documentNumber", 20), ("description", 100), ("comment", 250)):
                value = body.get(name, "")
                if not isinstance(value, str) or len(value) > limit or (not value and name in (
                        "accountNumber", "documentNumber")):
                    problems.append(f"{where}: {name} must be text of 1-{limit} characters, got {value!r}")
            if body.get("accountType", "G/L Account") not in ("G/L Account", "Bank Account", "Customer", "Vendor"):
                problems.append(f"{where}: accountType {body.get('accountType')!r} is not an account type")
            day = iso_date(body.get("postingDate"), f"{where}: postingDate", problems)
            value = amount(body.get("amount"), f"{where}: amount", currency, problems, signed=True)
            sums[body.get("documentNumber")] = sums.get(body.get("documentNumber"), Decimal(0)) + value
            if match and day:
                made.append({"id": str(uuid.uuid4()), "journalId": match.group(2), "journalDisplayName": "INVOICEFLW",
                             "lineNumber": 10000 * (len(self.lines) + len(made) + 1),
                             "accountType": body.get("accountType", "G/L Account"), "accountId": str(uuid.UUID(int=0)),
                             "accountNumber": body.get("accountNumber"), "postingDate": body.get("postingDate"),
                             "documentNumber": body.get("documentNumber"), "externalDocumentNumber": "",
                             "amount": value, "description": body.get("description", ""),
                             "comment": body.get("comment", ""), "lastModifiedDateTime": "2026-04-02T10:00:00Z"})
        problems += [f"document {n}: the lines add up to {s}, not 0" for n, s in sums.items() if s != 0]
        if problems:  # snapshot isolation: nothing of the batch is kept
            raise Invalid(problems)
        self.lines.extend(made)
        answers = [{"id": r.get("id"), "status": 201, "headers": {"content-type": "application/json"}, "body": line}
                   for r, line in zip(requests, made)]
        return 200, JSON_TYPE, number_json({"responses": answers})


ORACLE = "/fscmRestApi/resources/11.13.18.05"
GL_INTERFACE = ("STATUS", "LEDGER_ID", "ACCOUNTING_DATE", "USER_JE_SOURCE_NAME", "USER_JE_CATEGORY_NAME",
                "CURRENCY_CODE", "DATE_CREATED", "ACTUAL_FLAG", *(f"SEGMENT{i}" for i in range(1, 31)), "ENTERED_DR",
                "ENTERED_CR", "ACCOUNTED_DR", "ACCOUNTED_CR", *(f"REFERENCE{i}" for i in range(1, 11)))


class OracleStandIn(StandIn):
    """ERP Integrations `importBulkData` carrying GlInterface.csv (the journal import runs at once here),
    Journal Batches read by name, and a batch's journalHeaders with expanded journalLines."""

    vendor = "Oracle Fusion"
    JOB = "/oracle/apps/ess/financials/generalLedger/programs/common,JournalImportLauncher"

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[dict] = []  # duplicates are kept: Oracle's journal import does not refuse them

    def error(self, status, code, detail):
        return status, JSON_TYPE, enc({"title": detail[:80], "status": str(status),
                                       "o:errorDetails": [{"detail": detail, "o:errorCode": code}]})

    def handle(self, method, path, query, headers, body):
        if method == "POST" and path == f"{ORACLE}/erpintegrations":
            return self._import(self.json_body(headers, body, "application/vnd.oracle.adf.resourceitem+json",
                                               "application/json"))
        if method == "GET" and path == f"{ORACLE}/journalBatches":
            name = re.fullmatch(r"BatchName='((?:[^']|'')*)'", (query.get("q") or [""])[0])
            found = [{k: v for k, v in b.items() if k != "journalHeaders"} for b in self.batches
                     if name and b["BatchName"] == name.group(1).replace("''", "'")]
            return 200, JSON_TYPE, enc({"items": found, "count": len(found), "hasMore": False})
        match = re.fullmatch(rf"{ORACLE}/journalBatches/(\d+)/child/journalHeaders", path)
        batch = next((b for b in self.batches if match and str(b["JournalBatchId"]) == match.group(1)), None)
        if method == "GET" and batch is not None:
            expand = query.get("expand") == ["journalLines"]
            items = [h if expand else {k: v for k, v in h.items() if k != "journalLines"}
                     for h in batch["journalHeaders"]]
            return 200, JSON_TYPE, number_json({"items": items, "count": len(items), "hasMore": False})
        return self.error(404, "NOT_FOUND", f"no resource at {path}")

    def _import(self, request: Any) -> tuple[int, dict, bytes]:
        problems = [f"{k} must be {v!r}" for k, v in (("OperationName", "importBulkData"), ("ContentType", "zip"),
                    ("DocumentAccount", "fin$/generalLedger$/import$"), ("JobName", self.JOB))
                    if request.get(k) != v]
        if not str(request.get("FileName", "")).endswith(".zip"):
            problems.append("FileName must name a .zip file")
        parameters = str(request.get("ParameterList", "")).split(",")
        if len(parameters) != 7:
            problems.append(f"ParameterList needs the 7 JournalImportLauncher parameters, got {len(parameters)}")
        try:
            with zipfile.ZipFile(io.BytesIO(base64.b64decode(request.get("DocumentContent", ""), validate=True))) as z:
                rows = list(csv.reader(io.StringIO(z.read("GlInterface.csv").decode())))
        except Exception as exc:  # any undecodable content is the caller's fault
            raise Invalid(problems + [f"DocumentContent must be a base64 zip holding GlInterface.csv: {exc}"]) from exc
        journals: dict[tuple[str, str], dict] = {}
        for n, row in enumerate(rows, start=1):
            if len(row) != len(GL_INTERFACE):
                problems.append(f"row {n}: {len(row)} columns, the GL_INTERFACE template has {len(GL_INTERFACE)}")
                continue
            r = dict(zip(GL_INTERFACE, row))
            for column, pattern in (("STATUS", "NEW"), ("LEDGER_ID", r"\d+"), ("ACTUAL_FLAG", "A"),
                                    ("CURRENCY_CODE", "[A-Z]{3}"), ("USER_JE_SOURCE_NAME", ".+"),
                                    ("USER_JE_CATEGORY_NAME", ".+"), ("SEGMENT1", ".+"), ("REFERENCE1", ".{1,100}"),
                                    ("REFERENCE4", ".{0,100}"), ("REFERENCE5", ".{0,240}"),
                                    ("REFERENCE10", ".{0,240}")):
                if not re.fullmatch(pattern, r[column]):
                    problems.append(f"row {n}: {column} {r[column]!r} does not match {pattern}")
            if len(parameters) == 7 and (parameters[1], parameters[2]) != (r["USER_JE_SOURCE_NAME"], r["LEDGER_ID"]):
                problems.append(f"row {n}: source and ledger differ from the ParameterList's")
            day = iso_date(r["ACCOUNTING_DATE"], f"row {n}: ACCOUNTING_DATE", problems, "%Y/%m/%d")
            iso_date(r["DATE_CREATED"], f"row {n}: DATE_CREATED", problems, "%Y/%m/%d")
            sides = [c for c in ("ENTERED_DR", "ENTERED_CR") if r[c]]
            if len(sides) != 1:
                problems.append(f"row {n}: exactly one of ENTERED_DR and ENTERED_CR, got {sides}")
                continue
            value = amount(r[sides[0]], f"row {n}: {sides[0]}", r["CURRENCY_CODE"], problems)
            header = journals.setdefault((r["REFERENCE1"], r["REFERENCE4"]), {
                "JournalName": r["REFERENCE4"], "Description": r["REFERENCE5"], "CurrencyCode": r["CURRENCY_CODE"],
                "AccountingDate": day.isoformat() if day else "", "Status": "U", "journalLines": [], "net": Decimal(0)})
            if (header["CurrencyCode"], header["AccountingDate"]) != (r["CURRENCY_CODE"], day and day.isoformat()):
                problems.append(f"row {n}: one journal has one currency and one accounting date")
            header["net"] += value if sides[0] == "ENTERED_DR" else -value
            header["journalLines"].append({
                "AccountCombination": ".".join(r[f"SEGMENT{i}"] for i in range(1, 31) if r[f"SEGMENT{i}"]),
                "EnteredDebitAmount": value if sides[0] == "ENTERED_DR" else None,
                "EnteredCreditAmount": value if sides[0] == "ENTERED_CR" else None, "Description": r["REFERENCE10"]})
        problems += [f"journal {name}: debits and credits differ by {h['net']}" for (_, name), h in journals.items()
                     if h["net"] != 0]
        if problems or not journals:
            raise Invalid(problems or ["GlInterface.csv has no rows"])
        for (batch, _), header in journals.items():
            del header["net"]
            self.batches.append({"JournalBatchId": 300000 + len(self.batches), "BatchName": batch, "Status": "U",
                                 "journalHeaders": [header]})
        answer = {k: v for k, v in request.items() if k != "DocumentContent"}
        return 201, JSON_TYPE, enc({**answer, "ReqstId": str(500000 + len(self.batches))})
