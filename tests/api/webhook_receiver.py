"""A real webhook receiver for the outbound tests: a stdlib HTTP server on a loopback port that records
each delivery and checks its signature the way docs/webhooks.md tells integrators to."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def signature_ok(secret: str, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md): HMAC-SHA256 over f"{t}.{body}", any v1 may match."""
    items = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [int(v) for k, v in items if k == "t"]
    if len(stamps) != 1 or abs(now - stamps[0]) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")


class Receiver:
    """Answers each path with its scripted statuses (the last repeats); `now` is the receiver's clock."""

    def __init__(self, now):
        self.now, self.requests, self.script, self.secrets = now, [], {}, {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                secret = receiver.secrets.get(self.path, "")
                receiver.requests.append({
                    "path": self.path, "headers": dict(self.headers), "body": json.loads(body), "raw": body,
                    "verified": signature_ok(secret, self.headers["Invoiceflow-Signature"], body,
                                             receiver.now().timestamp())})
                statuses = receiver.script.setdefault(self.path, [200])
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"thanks!" if status < 300 else b"nope!!!")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verifies(self, request: dict, secret: str) -> bool:
        """Whether a receiver holding only `secret` accepts this recorded delivery."""
        return signature_ok(secret, request["headers"]["Invoiceflow-Signature"], request["raw"], self.now().timestamp())

    def close(self):
        self.server.shutdown()
        self.server.server_close()
