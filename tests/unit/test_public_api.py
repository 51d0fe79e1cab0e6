"""The public API is a short, deliberate list: adding or removing a name must be a conscious change."""

import invoiceflow

EXPECTED = {
    "ApplyError", "ApplyReport", "BillRunReport", "Clock", "ConflictError", "FrozenClock", "IngestError",
    "IngestReport", "InvoiceflowError", "Money", "NotFound", "PricingError", "Problem", "Rating", "SystemClock",
    "ValidationError", "apply_document", "as_of_for_period", "ingest_events", "invoice_detail", "list_invoices",
    "load_document", "open_engine", "parse_price", "rate", "round_amount", "run_bill_run", "tenant_id",
}


def test_public_names_are_exactly_the_curated_list():
    assert set(invoiceflow.__all__) == EXPECTED
    assert len(invoiceflow.__all__) == len(EXPECTED)


def test_every_public_name_resolves_and_is_documented():
    for name in invoiceflow.__all__:
        obj = getattr(invoiceflow, name)
        assert obj.__doc__, f"{name} has no docstring"
