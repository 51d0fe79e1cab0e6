"""A generic JSON-over-HTTP ERP: the protocol an in-house ERP (or a thin bridge to one) implements.

Protocol (version 1), under a base URL, with `Authorization: Bearer <token>`:

    POST /journal-entries          {"external_reference", "legal_entity", "date", "currency", "memo",
                                    "lines": [{"account", "debit", "credit", "product", "memo"}]}
                                   -> 201 {"id", "number", "external_reference"}
    GET  /journal-entries?external_reference=<key>  -> 200 {"documents": [{"id", "number", "external_reference"}]}
    GET  /journal-entries/<id>     -> 200 {"id", "number", "external_reference", "date", "currency", "state",
                                           "lines": [{"account", "debit", "credit", "memo"}]}

Amounts are decimal strings ("170.53"), never JSON numbers, so no float ever touches money. The server need
not refuse a second document with the same reference (many ERPs do not): the connector looks the reference
up before every post, which is what makes a retry after a lost answer safe. A server that does refuse one
may answer 409, after which the connector settles with the document it finds.

Failures: no answer within `timeout`, a refused connection, 5xx and 429 are Transient; 401/403 and any
other 4xx are Permanent; an answer that is not JSON or lacks a field of the protocol is Permanent ("answer
does not parse: missing field 'id'"), since retrying cannot make the server speak the protocol.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping
from urllib.parse import quote

import httpx

from invoiceflow.effects.errors import retry_after_seconds
from invoiceflow.ledger.connectors.base import ErpEntry, ErpLine, ExternalRef, permanent, transient
from invoiceflow.ledger.entries import JournalEntry

SYSTEM = "http"
PATH = "/journal-entries"
_REF_FIELDS = ("id", "number", "external_reference")


class HttpJsonConnector:
    """Journal entries to an ERP speaking the protocol above (see the module docstring)."""

    name = SYSTEM

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url, self.timeout = url.rstrip("/"), float(timeout)
        headers = {"Accept": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        self._client = httpx.Client(base_url=self.url, timeout=self.timeout, headers=headers, transport=transport)

    def close(self) -> None:
        self._client.close()

    def post(self, entry: JournalEntry) -> ExternalRef:
        """Find the document an earlier attempt made, or create it: lookup first, always."""
        operation = f"post {entry.entry_key}"
        found = self.lookup(entry.entry_key)
        if found is not None:
            return self._settle(found, entry, operation)
        answer = self._send(operation, "POST", PATH, json=_body(entry), accept=(200, 201), allow=(409,),
                            headers={"Idempotency-Key": entry.entry_key})
        if answer is None:  # 409: the server holds the reference already (a concurrent or lost attempt)
            found = self.lookup(entry.entry_key)
            if found is None:
                raise permanent(SYSTEM, operation, "the ERP answered 409 (reference exists) but a lookup finds "
                                                   "no document carrying it")
            return self._settle(found, entry, operation)
        ref = self._ref(answer, operation)
        if ref.entry_key != entry.entry_key:
            raise transient(SYSTEM, operation, f"the ERP acknowledged {ref.entry_key!r} instead; it may or may not "
                                               "have applied this post, so the next attempt looks it up first")
        return ref

    def lookup(self, entry_key: str) -> ExternalRef | None:
        operation = f"lookup {entry_key}"
        answer = self._send(operation, "GET", PATH, params={"external_reference": entry_key})
        documents = _field(answer, "documents", operation, list)
        refs = [self._ref(_object(doc, operation, "documents[]"), operation) for doc in documents]
        refs = [ref for ref in refs if ref.entry_key == entry_key]
        if len(refs) > 1:
            raise permanent(SYSTEM, operation, f"{len(refs)} documents carry this reference (ids "
                                               f"{', '.join(str(r.id) for r in refs)}); keep one in the ERP, then "
                                               "replay")
        return refs[0] if refs else None

    def read(self, ref: ExternalRef) -> ErpEntry:
        operation = f"read {ref.entry_key}"
        answer = self._send(operation, "GET", f"{PATH}/{quote(str(ref.id), safe='')}")
        found = self._ref(answer, operation)
        lines = tuple(ErpLine(account=str(_field(line, "account", operation)),
                              debit=_amount(line, "debit", operation), credit=_amount(line, "credit", operation),
                              memo=str(line.get("memo") or ""))
                      for line in (_object(item, operation, "lines[]")
                                   for item in _field(answer, "lines", operation, list)))
        text = _field(answer, "date", operation, str)
        try:
            on = date.fromisoformat(text)
        except ValueError as exc:
            raise permanent(SYSTEM, operation, f"answer does not parse: date {text!r} is not YYYY-MM-DD") from exc
        return ErpEntry(found, on, _field(answer, "currency", operation, str), str(answer.get("state") or ""), lines)

    def _settle(self, ref: ExternalRef, entry: JournalEntry, operation: str) -> ExternalRef:
        differences = self.read(ref).differences(entry)
        if differences:
            raise permanent(SYSTEM, operation, f"document {ref.number or ref.id} already carries {entry.entry_key!r} "
                                               f"with different content ({'; '.join(differences)})")
        return ref

    def _ref(self, answer: Mapping[str, Any], operation: str) -> ExternalRef:
        values = {name: _field(answer, name, operation) for name in _REF_FIELDS}
        return ExternalRef(SYSTEM, str(values["id"]), None if values["number"] is None else str(values["number"]),
                           str(values["external_reference"]))

    def _send(self, operation: str, method: str, path: str, *, accept: tuple[int, ...] = (200,),
              allow: tuple[int, ...] = (), **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise transient(SYSTEM, operation, f"no answer within {self.timeout:g}s from {self.url} "
                                               f"({type(exc).__name__}); it may have been applied, so the next "
                                               "attempt looks the entry up first") from exc
        except httpx.TransportError as exc:
            raise transient(SYSTEM, operation, f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status in allow:
            return None
        if status == 429 or status >= 500:
            raise transient(SYSTEM, operation, f"HTTP {status} from {self.url}, retry later: {_preview(response)}",
                            retry_after=retry_after_seconds(response.headers.get("retry-after")))
        if status in (401, 403):
            raise permanent(SYSTEM, operation, f"authentication failed (HTTP {status}) at {self.url}; check the "
                                               "token (INVOICEFLOW_ERP_TOKEN or token_env)")
        if status not in accept:
            raise permanent(SYSTEM, operation, f"rejected with HTTP {status}: {_preview(response)}")
        try:
            data = json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise permanent(SYSTEM, operation,
                            f"answer does not parse: not JSON ({exc}): {_preview(response)}") from exc
        return _object(data, operation, "the answer")


def _body(entry: JournalEntry) -> dict[str, Any]:
    return {"external_reference": entry.entry_key, "legal_entity": entry.legal_entity, "date": entry.date.isoformat(),
            "currency": entry.currency, "memo": entry.memo,
            "lines": [{"account": line.account, "debit": format(line.debit, "f"), "credit": format(line.credit, "f"),
                       "product": line.product, "memo": line.memo} for line in entry.lines]}


def _object(value: Any, operation: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise permanent(SYSTEM, operation, f"answer does not parse: {where} is {type(value).__name__}, not an object")
    return value


def _field(answer: Mapping[str, Any], name: str, operation: str, kind: type | None = None) -> Any:
    if name not in answer:
        has = ", ".join(sorted(answer)) or "no fields"
        raise permanent(SYSTEM, operation, f"answer does not parse: missing field {name!r} (has {has}); has the "
                                           "ERP's schema changed?")
    value = answer[name]
    if kind is not None and not isinstance(value, kind):
        raise permanent(SYSTEM, operation, f"answer does not parse: field {name!r} is {type(value).__name__}, not "
                                           f"{kind.__name__}")
    return value


def _amount(line: Mapping[str, Any], name: str, operation: str) -> Decimal:
    text = _field(line, name, operation, str)
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise permanent(SYSTEM, operation, f"answer does not parse: {name} {text!r} is not a decimal") from exc
    if not value.is_finite() or value < 0:
        raise permanent(SYSTEM, operation, f"answer does not parse: {name} {text!r} is not a non-negative amount")
    return value


def _preview(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip()
    return (text[:limit] + "...") if len(text) > limit else text or "(empty)"
