"""`HttpTaxEngine`: the TaxEngine protocol over an external tax service speaking the contract in contract.py.

Why the split between TaxUnavailable and ValidationError: an invoice must never be issued with a guessed
tax. When the service cannot answer now (no answer within the timeout, a refused connection, HTTP 5xx or
429, refused credentials) the release pass holds the invoice as `tax_status = pending` and asks again on the
next pass, so those raise `TaxUnavailable`. An answer that does not follow the contract, or a request the
service rejects as invalid (another 4xx), will not improve by asking again: it raises a `ValidationError`
naming the field at fault, which stops the release batch before anything is written.
"""

from __future__ import annotations

import json
from decimal import Decimal

import httpx

from invoiceflow.effects.errors import retry_after_seconds
from invoiceflow.errors import ValidationError
from invoiceflow.tax.engine import QuoteRequest, TaxQuote, TaxUnavailable
from invoiceflow.tax_providers.contract import parse_quote, request_body

NAME = "http"


class HttpTaxEngine:
    """Quotes from the tax service at `url` (the quote endpoint), authenticated with a bearer `api_key`."""

    name = NAME

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 10.0, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url, self.timeout = url, float(timeout)
        headers = {"Accept": "application/json"} | ({"Authorization": f"Bearer {api_key}"} if api_key else {})
        self._client = httpx.Client(timeout=self.timeout, headers=headers, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpTaxEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def quote(self, request: QuoteRequest) -> TaxQuote:
        """POST the request; the answer mapped exactly, or TaxUnavailable / ValidationError (module docstring)."""
        what = f"quote {request.reference or 'without reference'}"
        headers = {"Idempotency-Key": request.reference} if request.reference else {}
        try:
            response = self._client.post(self.url, json=request_body(request), headers=headers)
        except httpx.TimeoutException as exc:
            raise TaxUnavailable(f"{what}: no answer within {self.timeout:g}s from {self.url}", engine=NAME) from exc
        except httpx.TransportError as exc:
            raise TaxUnavailable(f"{what}: cannot reach {self.url}: {type(exc).__name__}: {exc}", engine=NAME) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TaxUnavailable(f"{what}: HTTP {status} from {self.url}: {_preview(response)}", engine=NAME,
                                 retry_after_seconds=_whole_seconds(response))
        if status in (401, 403):
            raise TaxUnavailable(f"{what}: authentication failed (HTTP {status}) at {self.url}; check "
                                 "INVOICEFLOW_TAX_API_KEY", engine=NAME)
        record = f"tax service {self.url}, answer to {what}"
        if status != 200:
            raise ValidationError(f"the service rejected the request with HTTP {status}: {_preview(response)}",
                                  record=record)
        try:
            data = json.loads(response.content.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError(f"the answer does not parse: not JSON ({exc}): {_preview(response)}",
                                  record=record) from exc
        return parse_quote(request, data, engine=NAME, record=record)


def _whole_seconds(response: httpx.Response) -> int | None:
    seconds = retry_after_seconds(response.headers.get("retry-after"))
    return None if seconds is None else int(seconds)


def _preview(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip()
    return (text[:limit] + "...") if len(text) > limit else text or "(empty)"
