"""invoiceflow: an order-to-cash engine.

The public Python API is these few names; everything else is internal and may change.

    engine = open_engine()                                   # SQLite file or PostgreSQL, schema migrated
    with engine.begin() as conn:
        apply_document(conn, tenant_id(conn), load_document("catalog.yaml"))
        ingest_events(conn, tenant_id(conn), events, ingested_at_micros=...)
    report = run_bill_run(engine, as_of=date(2026, 11, 1))
    rate(parse_price({"model": "standard", "unit_price": "0.05"}, currency="USD"), "120")
"""

from invoiceflow.billing.queries import invoice_detail, list_invoices
from invoiceflow.billing.run import BillRunReport, as_of_for_period, run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import ApplyReport, apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import Clock, FrozenClock, SystemClock
from invoiceflow.errors import (
    ApplyError,
    ConflictError,
    IngestError,
    InvoiceflowError,
    NotFound,
    PricingError,
    Problem,
    ValidationError,
)
from invoiceflow.metering.ingest import IngestReport, ingest_events
from invoiceflow.money import Money, round_amount
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price
from invoiceflow.rating.result import Rating
from invoiceflow.store.tenancy import tenant_id

__version__ = "0.1.0"

__all__ = [
    "ApplyError",
    "ApplyReport",
    "BillRunReport",
    "Clock",
    "ConflictError",
    "FrozenClock",
    "IngestError",
    "IngestReport",
    "InvoiceflowError",
    "Money",
    "NotFound",
    "PricingError",
    "Problem",
    "Rating",
    "SystemClock",
    "ValidationError",
    "apply_document",
    "as_of_for_period",
    "ingest_events",
    "invoice_detail",
    "list_invoices",
    "load_document",
    "open_engine",
    "parse_price",
    "rate",
    "round_amount",
    "run_bill_run",
    "tenant_id",
]
