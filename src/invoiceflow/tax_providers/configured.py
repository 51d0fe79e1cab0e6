"""Which tax engine the release pass uses, and the release pass with it: the one place the resolver is used.

The choice is read from the environment (INVOICEFLOW_TAX_*; see the package docstring), not the database,
because the API key is a secret and the choice belongs to the deployment; an unknown engine or a missing URL
is refused with the variable named before any invoice is touched. `review.release` itself stays free of
configuration (tests and callers hand it an engine); entry points such as `invoiceflow release` or a
scheduler call `release_with_configured_tax` to get the operator's choice. An external engine that does not
answer holds invoices as `tax_status = pending`; the next pass asks again and releases them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from sqlalchemy import Engine

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.tax.engine import BuiltinTaxEngine, TaxEngine

if TYPE_CHECKING:
    from invoiceflow.review.release import ReleaseReport
from invoiceflow.tax_providers.http import HttpTaxEngine

ENGINES = ("builtin", "http")
DEFAULT_TIMEOUT = 10.0


def configured_engine(environ: Mapping[str, str] | None = None) -> TaxEngine:
    """The tax engine INVOICEFLOW_TAX_ENGINE names; a missing or bad setting is a ValidationError naming it."""
    environ = os.environ if environ is None else environ
    name = environ.get("INVOICEFLOW_TAX_ENGINE", "").strip() or "builtin"
    record = "tax engine configuration"
    if name not in ENGINES:
        raise ValidationError(f"unknown tax engine {name!r}; use one of {', '.join(ENGINES)}", record=record,
                              field="INVOICEFLOW_TAX_ENGINE")
    if name == "builtin":
        return BuiltinTaxEngine()
    problems = []
    url = environ.get("INVOICEFLOW_TAX_URL", "").strip()
    if not url.startswith(("http://", "https://")):
        problems.append(Problem(record, "INVOICEFLOW_TAX_URL", f"must be the tax service's http(s) URL when "
                                                               f"INVOICEFLOW_TAX_ENGINE is http, got {url!r}"))
    timeout = environ.get("INVOICEFLOW_TAX_TIMEOUT", "").strip() or str(DEFAULT_TIMEOUT)
    try:
        seconds = float(timeout)
        if seconds <= 0:
            raise ValueError
    except ValueError:
        problems.append(Problem(record, "INVOICEFLOW_TAX_TIMEOUT", f"must be a positive number of seconds, got "
                                                                   f"{timeout!r}"))
    if problems:
        raise ValidationError(problems)
    return HttpTaxEngine(url, environ.get("INVOICEFLOW_TAX_API_KEY", "").strip() or None, seconds)


def release_with_configured_tax(db: Engine, tenant: str, invoice_ids: Iterable[int] | None = None,
                                **options: Any) -> "ReleaseReport":
    """`review.release` with `configured_engine()`, unless the caller passes `tax_engine` (then it is used and
    left open); an engine made here is closed afterwards."""
    from invoiceflow.review.release import release  # the release pass itself resolves engines from here
    given = options.pop("tax_engine", None)
    if given is not None:
        return release(db, tenant, invoice_ids, tax_engine=given, **options)
    engine = configured_engine()
    try:
        return release(db, tenant, invoice_ids, tax_engine=engine, **options)
    finally:
        getattr(engine, "close", lambda: None)()
