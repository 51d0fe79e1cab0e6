"""A local stand-in for an external tax service speaking the contract of invoiceflow/tax_providers/contract.py.

A real HTTP server on 127.0.0.1 (stdlib). It taxes every line as standard rated at its own flat rate for
the buyer's country (or US state), deliberately different from the built-in engine (Oakland, California is
taxed 7.25 % here; the built-in rules find SaaS not taxable there), so a test can tell whose tax an invoice
carries. It checks the bearer key, and can be switched to: down (connection refused), unavailable (503 with
Retry-After), throttled (429), timeout (holds the answer), malformed (HTML), or a `canned` answer.
"""

from __future__ import annotations

import json
import threading
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "test-tax-key"
RATES = {"DE": Decimal("19"), "FR": Decimal("20"), "US-TX": Decimal("6.25"), "US-CA": Decimal("7.25")}
PLACES = {"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3}
JSON = {"Content-Type": "application/json"}


class TaxStandIn:
    def __init__(self) -> None:
        self.mode, self.delay, self.canned = "ok", 2.0, None
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._port, self._server = 0, None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1/quote"

    def up(self) -> None:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
            self._server.daemon_threads = True
            self._port = self._server.server_address[1]
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self._stop.set()
        self.down()

    def answer(self, headers: Any, body: bytes) -> tuple[int, dict, bytes]:
        if headers.get("Authorization") != f"Bearer {KEY}":
            return 401, JSON, b'{"error": "invalid API key"}'
        if self.mode == "unavailable":
            return 503, {**JSON, "Retry-After": "30"}, b'{"error": "maintenance"}'
        if self.mode == "throttled":
            return 429, {**JSON, "Retry-After": "5"}, b'{"error": "slow down"}'
        if self.mode == "timeout":
            self._stop.wait(self.delay)
            return 504, JSON, b"{}"
        if self.mode == "malformed":
            return 200, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"
        request = json.loads(body)
        self.requests.append(request)
        if self.canned is not None:
            return 200, JSON, json.dumps(self.canned).encode()
        return 200, JSON, json.dumps(quote(request)).encode()


def quote(request: dict[str, Any]) -> dict[str, Any]:
    """Every line S at the buyer's flat rate; one subtotal per rate, rounded half up once."""
    buyer = request["buyer"]
    where = f"US-{buyer['region']}" if buyer["country"] == "US" else buyer["country"]
    rate = RATES.get(where, Decimal("10"))
    quantum = Decimal(1).scaleb(-PLACES.get(request["currency"], 2))
    taxable = sum((Decimal(line["net_amount"]) for line in request["lines"]), Decimal(0))
    precise = taxable * rate / 100
    tax = precise.quantize(quantum, rounding=ROUND_HALF_UP)
    lines = [{"line_id": line["line_id"], "category": "S", "rate": str(rate), "jurisdiction": where,
              "rule": "standin.flat_rate", "exemption_code": None, "exemption_reason": None,
              "note": f"flat {rate} % for {where}", "requirements": []} for line in request["lines"]]
    return {"lines": lines, "breakdown": {
        "taxable_total": str(taxable), "tax_total": str(tax),
        "subtotals": [{"category": "S", "rate": str(rate), "taxable_amount": str(taxable), "tax_amount": str(tax),
                       "tax_precise": str(precise), "exemption_code": None, "exemption_reason": None,
                       "line_count": len(lines)}]}}


def _handler(standin: TaxStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, payload = standin.answer(self.headers, body)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
