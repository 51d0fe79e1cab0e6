"""What the vendor connectors share: exact JSON numbers, short stable references, one HTTP call that turns
every failure into `Transient` (retry) or `Permanent` (dead-letter) with a message naming the vendor, the
operation and the cause, and the check that an ERP document found under a key holds that entry.

Why a hand-written JSON number writer: money travels as Decimal end to end, and `json` would only take it
through float (170.53 -> 170.53000000000000113...). Why stdlib urllib: each call is one request with a
timeout, nothing more; the effects runner owns retries and backoff, so a client only classifies failures.
"""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from http.client import HTTPException
from typing import Any, Callable, Mapping

from invoiceflow.effects.errors import Permanent, Transient, retry_after_seconds
from invoiceflow.ledger.connectors.base import ErpEntry, ExternalRef
from invoiceflow.ledger.entries import JournalEntry

Built = tuple[str, str, Any, dict[str, str]]  # (method, path, body, headers): what build() returns


def dumps(value: Any) -> bytes:
    """JSON with Decimal written as an exact number (`170.53`, `1500`, `1.250`), never through float."""
    def write(item: Any) -> str:
        if isinstance(item, Decimal):
            if not item.is_finite():
                raise ValueError(f"cannot send {item} as a JSON number")
            return format(item, "f")
        if isinstance(item, Mapping):
            return "{" + ",".join(f"{json.dumps(str(k))}:{write(v)}" for k, v in item.items()) + "}"
        if isinstance(item, (list, tuple)):
            return "[" + ",".join(write(v) for v in item) + "]"
        if isinstance(item, float):
            raise TypeError("floats are not sent: money is Decimal")
        return json.dumps(item, ensure_ascii=False)
    return write(value).encode()


def loads(vendor: str, operation: str, body: bytes) -> Any:
    """Parse a JSON answer (numbers with a fraction as Decimal); an unparseable answer is Permanent."""
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Permanent(f"{vendor}: {operation}: the answer is not valid JSON ({exc}): {_preview(body)}") from exc


def short_reference(entry_key: str, limit: int) -> str:
    """A stable reference of at most `limit` characters (upper case, letters and digits) for fields too short
    for an entry key, such as SAP's 16-character DocumentReferenceID: "IF" and the key's sha256 in hex."""
    return ("IF" + hashlib.sha256(entry_key.encode()).hexdigest()).upper()[:limit]


def settle(found: ErpEntry, entry: JournalEntry, vendor: str, operation: str) -> ExternalRef:
    """An ERP document already carries the key: the same content is success, other content is refused
    (a posted entry is never changed; a correction is a reversal plus a new entry)."""
    differences = found.differences(entry)
    if differences:
        raise Permanent(f"{vendor}: {operation}: document {found.ref.number or found.ref.id} already carries "
                        f"{entry.entry_key!r} with different content ({'; '.join(differences)})")
    return found.ref


def inverse(mapping: Mapping[str, Any]) -> dict[str, str]:
    """ERP id -> our code, for reading documents back (tuples of segments are joined with '.')."""
    return {(".".join(v) if isinstance(v, (list, tuple)) else str(v)): k for k, v in mapping.items()}


def _preview(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace").strip()
    return (text[:limit] + "...") if len(text) > limit else text or "(empty)"


def error_detail(body: bytes) -> str:
    """The vendor's own error message when the answer has one of the usual shapes, else the body's start."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _preview(body)
    if isinstance(data, dict):
        details = data.get("o:errorDetails")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            return "; ".join(str(d.get("detail", "")) for d in details if isinstance(d, dict))
        error = data.get("error")
        if isinstance(error, dict) and "message" in error:
            message = error["message"]
            return str(message.get("value", message) if isinstance(message, dict) else message)
        for key in ("detail", "title", "message"):
            if key in data:
                return str(data[key])
    return _preview(body)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpSender:
    """One HTTP request to one vendor; statuses in `accept` or `allow` are returned, the rest raise.

    Timeouts, refused connections, 5xx and 429 are Transient (429/503 with their Retry-After); 401/403 are
    Permanent authentication failures; any other 4xx is a Permanent rejection carrying the vendor's message.
    """

    def __init__(self, vendor: str, base_url: str, timeout: float = 30.0):
        self.vendor, self.base_url, self.timeout = vendor, base_url.rstrip("/"), timeout

    def send(self, operation: str, method: str, path: str, body: bytes | None, headers: Mapping[str, str], *,
             accept: tuple[int, ...] = (200, 201, 204), allow: tuple[int, ...] = (),
             describe: Callable[[bytes], str] = error_detail) -> Response:
        where = f"{self.vendor}: {operation}"
        request = urllib.request.Request(self.base_url + path, data=body, headers=dict(headers), method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                response = Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except urllib.error.HTTPError as exc:
            response = Response(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, exc.read())
        except (TimeoutError, socket.timeout) as exc:
            raise Transient(f"{where}: no answer within {self.timeout:g}s ({exc})") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise Transient(f"{where}: no answer within {self.timeout:g}s") from exc
            raise Transient(f"{where}: cannot reach {self.base_url}: {exc.reason}") from exc
        except (ConnectionError, HTTPException) as exc:
            raise Transient(f"{where}: the connection broke: {exc!r}") from exc
        if response.status in accept or response.status in allow:
            return response
        detail = describe(response.body)
        if response.status == 429 or response.status >= 500:
            raise Transient(f"{where}: HTTP {response.status} from the server, retry later: {detail}",
                            retry_after=retry_after_seconds(response.headers.get("retry-after")))
        if response.status in (401, 403):
            raise Permanent(f"{where}: authentication failed (HTTP {response.status}); check the credentials: "
                            f"{detail}")
        if response.status < 300:
            raise Permanent(f"{where}: unexpected answer HTTP {response.status} (the API documents "
                            f"{', '.join(map(str, accept))}): {detail}")
        raise Permanent(f"{where}: rejected with HTTP {response.status}: {detail}")


def mapped(vendor: str, mapping: Mapping[str, Any], key: str, what: str) -> Any:
    """A configured vendor id; a missing one is Permanent (no retry creates configuration)."""
    if key not in mapping:
        known = ", ".join(sorted(mapping)) or "none"
        raise Permanent(f"{vendor}: build: no {what} is configured for {key!r} (configured: {known})")
    return mapping[key]
