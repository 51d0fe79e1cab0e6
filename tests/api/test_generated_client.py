"""The OpenAPI document is complete enough that a generated client works.

openapi-python-client generates a typed client from the app's own document; a warning from it means it
skipped part of the API, so the test fails with the generator's output. The generated functions then talk
to a real `invoiceflow serve` process on a loopback port: list and read customers, post a usage event, list
invoices with filters, read one, and get a 404 and a 422 back as the one shared `Problem` model. Nothing
leaves the machine: the generator runs locally and the server listens on 127.0.0.1.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy import create_engine, select

from invoiceflow.api import create_app
from invoiceflow.store.tables import invoices

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "invoiceflow_client"


def generate(root: Path) -> None:
    """Write the app's OpenAPI document and generate the client package from it under `root`."""
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR.name} is missing: install the dev extras (pip install -e '.[dev]')")
    spec = root / "openapi.json"
    spec.write_text(json.dumps(create_app(create_engine("sqlite://")).openapi()))  # the document needs no data
    env = {**os.environ, "PATH": os.pathsep.join([str(GENERATOR.parent), os.environ.get("PATH", "")])}  # its ruff
    result = subprocess.run([str(GENERATOR), "generate", "--path", str(spec), "--output-path", str(root / PACKAGE),
                             "--meta", "none", "--fail-on-warning"], capture_output=True, text=True, env=env,
                            timeout=600)
    output = f"{result.stdout}\n{result.stderr}".strip()
    if result.returncode != 0 or "warning" in output.lower() or "error" in output.lower():
        pytest.fail(f"openapi-python-client did not take the API's OpenAPI document cleanly:\n{output}")


@pytest.fixture(scope="module")
def client_package(tmp_path_factory) -> ModuleType:
    """The generated package, importable for the tests of this module only."""
    root = tmp_path_factory.mktemp("generated")
    generate(root)
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def operation(package: ModuleType, name: str) -> ModuleType:
    """One generated operation module, e.g. "catalog.list_customers" (tag, then operation id)."""
    return importlib.import_module(f"{package.__name__}.api.{name}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(db_url: str, log_path: Path):
    """`invoiceflow serve` on a free loopback port against `db_url`; its base URL once /health answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "invoiceflow.cli", "serve", "--port", str(port),
                                   "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "INVOICEFLOW_DATABASE_URL": db_url})
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"invoiceflow serve did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stored_total(engine, invoice_id: int) -> Decimal:
    with engine.connect() as conn:
        return conn.execute(select(invoices.c.total).where(invoices.c.id == invoice_id)).scalar_one()


@pytest.mark.slow
def test_a_generated_client_works_against_a_live_server(world, client_package, db_url, tmp_path):
    engine, alpha, _ = world
    pkg = client_package
    models = importlib.import_module(f"{PACKAGE}.models")
    with serving(db_url, tmp_path / "serve.log") as url, \
            pkg.AuthenticatedClient(base_url=url, token=alpha.keys["revops"]) as api:
        page = operation(pkg, "catalog.list_customers").sync(client=api, limit=500)
        assert isinstance(page, models.PageCustomer) and page.has_more is False
        codes = [c.code for c in page.data]
        assert "only-a" in codes and "only-b" not in codes  # the key's tenant only

        customer = operation(pkg, "catalog.get_customer").sync(client=api, code="only-a")
        assert isinstance(customer, models.Customer)
        assert (customer.code, customer.currency, customer.legal_entity) == ("only-a", "EUR", "only-a-le")
        assert customer.account_ids == ["tel-only-a"]

        event = models.UsageEventIn(transaction_id="generated-1", customer="only-a", metric="only-a_meter",
                                    timestamp=datetime(2026, 9, 20, 12, tzinfo=timezone.utc), value="1")
        posted = operation(pkg, "usage.ingest_one").sync_detailed(client=api, body=event,
                                                                 idempotency_key="generated-client-1")
        assert posted.status_code == 201 and isinstance(posted.parsed, models.IngestResult), posted.content
        assert (posted.parsed.received, posted.parsed.inserted, posted.parsed.duplicates) == (1, 1, 0)
        stored = operation(pkg, "usage.get_usage_event").sync(client=api, transaction_id="generated-1")
        assert isinstance(stored, models.UsageEvent) and stored.quantity == "1" and stored.customer == "only-a"
        assert stored.timestamp == datetime(2026, 9, 20, 12, tzinfo=timezone.utc)  # a date-time, parsed

        unknown = models.UsageEventIn(transaction_id="generated-2", customer="nobody", metric="only-a_meter",
                                      timestamp=datetime(2026, 9, 20, 12, tzinfo=timezone.utc), value=2)
        refused = operation(pkg, "usage.ingest_one").sync_detailed(client=api, body=unknown)
        assert refused.status_code == 422 and isinstance(refused.parsed, models.Problem), refused.content
        [error] = refused.parsed.errors
        assert isinstance(error, models.ProblemFieldError)
        assert (error.field, error.pointer) == ("customer", "/customer") and "nobody" in error.detail

        status = models.ListInvoicesStatusType0.VALIDATED
        listed = operation(pkg, "invoices.list_invoices").sync(client=api, status=status, currency="USD")
        assert isinstance(listed, models.PageInvoiceSummary)
        assert sorted(i.customer for i in listed.data) == ["austin", "oakland"]
        assert all(i.status == "validated" and i.currency == "USD" for i in listed.data)

        summary = next(i for i in listed.data if i.customer == "austin")
        invoice = operation(pkg, "invoices.get_invoice").sync(client=api, invoice_id=summary.id)
        assert isinstance(invoice, models.Invoice) and invoice.id == summary.id
        assert isinstance(invoice.total, str) and Decimal(invoice.total) == stored_total(engine, summary.id)
        assert invoice.total == summary.total == "318.75" and invoice.tax_total == "18.75"  # decimal strings
        assert sum(Decimal(line.amount) for line in invoice.lines) == Decimal(invoice.subtotal)

        missing = operation(pkg, "catalog.get_customer").sync_detailed(client=api, code="nobody")
        problem = missing.parsed
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert isinstance(problem, models.Problem), missing.content
        assert problem.status == 404 and problem.type_.endswith("/not-found")
        assert "nobody" in problem.detail
