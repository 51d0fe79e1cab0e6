"""Adapters over external tax services, outside the pure `invoiceflow.tax` core (which takes no HTTP).

`configured_engine()` picks the engine the environment names; `release_with_configured_tax` is the release
pass with that engine, which is what `invoiceflow release` calls once wired. See docs/tax.md, "External tax
engine over HTTP and tax_pending".

    INVOICEFLOW_TAX_ENGINE   builtin (default) | http
    INVOICEFLOW_TAX_URL      the tax service's quote endpoint (required for http)
    INVOICEFLOW_TAX_API_KEY  sent as "Authorization: Bearer <key>" (optional)
    INVOICEFLOW_TAX_TIMEOUT  seconds to wait for an answer (default 10)
"""

from __future__ import annotations

from invoiceflow.tax_providers.configured import (DEFAULT_TIMEOUT, ENGINES, configured_engine,
                                                  release_with_configured_tax)
from invoiceflow.tax_providers.http import HttpTaxEngine

__all__ = ["DEFAULT_TIMEOUT", "ENGINES", "HttpTaxEngine", "configured_engine", "release_with_configured_tax"]
