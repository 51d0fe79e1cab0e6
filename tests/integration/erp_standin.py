"""A fault-injecting ERP stand-in speaking the generic JSON protocol of ledger/connectors/http_json.py.

A real HTTP server on 127.0.0.1 (stdlib, one thread per request) written from the protocol, not from the
connector: it checks every posted document (fields, decimal strings, the currency's decimals, debits equal
credits, the bearer token), stores what it accepted so a test can read the ERP back, and, like many real
ERPs, does NOT refuse a second document with the same external reference. Zero duplicates must therefore
come from the connector's lookup-before-post, not from the server.

Faults, persistent (`set_mode`) or for the next matching request only (`fail_next`), optionally only for
one HTTP method (`on="POST"`: the write, not the lookups):

    down          connection refused: the listening socket is closed (`down()` / `up()`, same port)
    unavailable   HTTP 503, nothing done
    timeout       holds the answer for `delay` seconds (past the client's timeout), nothing done
    slow          holds the answer for `delay` seconds, then does the work and answers normally
    lost          does the work, then holds the answer for `delay` seconds: the ERP has the document, the
                  client never hears so
    ack_failed    does the work, then answers HTTP 500 as if it had failed
    stale_ack     answers a POST with the previous acknowledgement again (a duplicated ack), doing nothing
    schema        does the work, but answers with the field "id" renamed "document_id" (a changed schema)
    malformed     answers HTTP 200 with an HTML page
    unauthorized  answers HTTP 401 (as does any request without the right token)
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "test-erp-token"
PLACES = {"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3}
PATH = "/journal-entries"
MODES = ("ok", "unavailable", "timeout", "slow", "lost", "ack_failed", "stale_ack", "schema", "malformed",
         "unauthorized")
JSON = {"Content-Type": "application/json"}


class ErpStandIn:
    def __init__(self, *, token: str = TOKEN) -> None:
        self.token = token
        self.documents: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._mode: tuple[str, str | None, float] = ("ok", None, 0.0)
        self._faults: list[tuple[str, str | None, float]] = []
        self._last_ack: bytes | None = None
        self._ids = itertools.count(1)
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._port, self._server = 0, None
        self.up()

    # -- control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def up(self) -> None:
        """Listen (again, on the same port after `down`)."""
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
            self._server.daemon_threads = True
            self._port = self._server.server_address[1]
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def down(self) -> None:
        """Stop listening: every request is refused at the TCP level until `up`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self._stop.set()
        self.down()

    def set_mode(self, mode: str, *, on: str | None = None, delay: float = 0.0) -> None:
        assert mode in MODES, mode
        self._mode = (mode, on, delay)

    def fail_next(self, mode: str, *, on: str | None = None, delay: float = 0.0) -> None:
        assert mode in MODES, mode
        with self._lock:
            self._faults.append((mode, on, delay))

    # -- reading the ERP back

    def references(self) -> Counter:
        """How many documents carry each external reference."""
        with self._lock:
            return Counter(doc["external_reference"] for doc in self.documents.values())

    def documents_for(self, reference: str) -> list[dict[str, Any]]:
        with self._lock:
            return [doc for doc in self.documents.values() if doc["external_reference"] == reference]

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    # -- serving

    def dispatch(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            self.requests.append((method, target))
            due = next((i for i, (_, on, _d) in enumerate(self._faults) if on in (None, method)), None)
            mode, on, delay = self._faults.pop(due) if due is not None else self._mode
        if on not in (None, method):
            mode = "ok"
        if mode == "unauthorized" or headers.get("Authorization") != f"Bearer {self.token}":
            return 401, JSON, json.dumps({"error": "invalid or missing bearer token"}).encode()
        if mode == "unavailable":
            return 503, JSON, json.dumps({"error": "ERP in maintenance"}).encode()
        if mode == "malformed":
            return 200, {"Content-Type": "text/html"}, b"<html><body><h1>502 Bad Gateway</h1>"
        if mode == "stale_ack" and method == "POST" and self._last_ack is not None:
            return 201, JSON, self._last_ack
        if mode in ("timeout", "slow"):
            self._stop.wait(delay)
            if mode == "timeout":
                return 504, JSON, b"{}"
        status, answer = self._act(method, target, body)
        if mode == "ack_failed":
            return 500, JSON, json.dumps({"error": "internal error"}).encode()
        if mode == "schema":
            answer = _renamed(answer)
        payload = json.dumps(answer).encode()
        if method == "POST" and status == 201:
            self._last_ack = payload
        if mode == "lost":
            self._stop.wait(delay)
        return status, JSON, payload

    def _act(self, method: str, target: str, body: bytes) -> tuple[int, Any]:
        url = urlsplit(target)
        with self._lock:
            if method == "POST" and url.path == PATH:
                return self._create(body)
            if method == "GET" and url.path == PATH:
                wanted = parse_qs(url.query).get("external_reference", [None])[0]
                if wanted is None:
                    return 400, {"error": "external_reference is required"}
                return 200, {"documents": [_head(doc) for doc in self.documents.values()
                                           if doc["external_reference"] == wanted]}
            if method == "GET" and url.path.startswith(PATH + "/"):
                doc = self.documents.get(url.path[len(PATH) + 1:])
                return (200, doc) if doc else (404, {"error": f"no journal entry {url.path[len(PATH) + 1:]}"})
        return 404, {"error": f"no resource at {method} {url.path}"}

    def _create(self, body: bytes) -> tuple[int, Any]:
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as exc:
            return 400, {"error": f"the body is not JSON: {exc}"}
        problems = _check(doc)
        if problems:
            return 422, {"error": "; ".join(problems)}
        number = next(self._ids)
        stored = {"id": f"je-{number}", "number": f"JE-{number:06d}", "state": "posted",
                  **{k: doc[k] for k in ("external_reference", "legal_entity", "date", "currency", "memo")},
                  "lines": [{k: line.get(k) for k in ("account", "debit", "credit", "memo", "product")}
                            for line in doc["lines"]]}
        self.documents[stored["id"]] = stored
        return 201, _head(stored)


def _head(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["id"], "number": doc["number"], "external_reference": doc["external_reference"]}


def _renamed(answer: Any) -> Any:
    if isinstance(answer, dict):
        return {("document_id" if key == "id" else key): _renamed(value) for key, value in answer.items()}
    if isinstance(answer, list):
        return [_renamed(item) for item in answer]
    return answer


def _check(doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return ["the body must be a JSON object"]
    problems = [f"{name} is required (a non-empty string)" for name in
                ("external_reference", "legal_entity", "date", "currency")
                if not isinstance(doc.get(name), str) or not doc[name]]
    lines = doc.get("lines")
    if not isinstance(lines, list) or len(lines) < 2:
        return problems + ["lines must hold at least two lines"]
    places = PLACES.get(doc.get("currency"), 2)
    totals = {"debit": Decimal(0), "credit": Decimal(0)}
    for n, line in enumerate(lines, start=1):
        if not isinstance(line, dict) or not isinstance(line.get("account"), str):
            problems.append(f"lines[{n}].account is required")
            continue
        for side in totals:
            text = line.get(side)
            try:
                value = Decimal(text) if isinstance(text, str) else None
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite() or value < 0:
                problems.append(f"lines[{n}].{side} must be a non-negative decimal string, got {text!r}")
            elif -value.as_tuple().exponent > places:
                problems.append(f"lines[{n}].{side} {text} has more than {places} decimals")
            else:
                totals[side] += value
    if not problems and totals["debit"] != totals["credit"]:
        problems.append(f"debits {totals['debit']} and credits {totals['credit']} differ")
    return problems


def _handler(standin: ErpStandIn) -> type[BaseHTTPRequestHandler]:
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
                pass  # the client gave up waiting

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
