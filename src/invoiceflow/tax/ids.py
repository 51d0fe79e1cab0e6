"""Tax identifier checks: format and check digits through python-stdnum, never a network call.

A syntactically valid VAT id can still be unregistered: confirming registration (VIES, HMRC's API) is a
network effect and belongs to an adapter, not here. What this module guarantees is that an id printed on
an invoice, or relied on for reverse charge, is well formed, has a correct check digit, and belongs to the
country the party is in.

Canonical forms: EU VAT ids carry their prefix (Greece uses EL, not GR); GB VAT numbers carry GB (or XI for
Northern Ireland); US EINs are written NN-NNNNNNN.
"""

from __future__ import annotations

import re

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.gb import vat as gb_vat
from stdnum.us import ein as us_ein
from stdnum.util import get_cc_module

from invoiceflow.errors import ValidationError as InvoiceflowValidationError
from invoiceflow.tax.model import EU_MEMBER_STATES, normalize_country

_SEPARATORS = re.compile(r"[\s.\-/]")


class _Invalid(Exception):
    """Internal: carries the human message out of the per-country checks."""


def _reason(exc: ValidationError, label: str) -> str:
    if isinstance(exc, InvalidLength):
        return f"has the wrong length for a {label}"
    if isinstance(exc, InvalidChecksum):
        return f"fails the check-digit test of a {label} (a typo?)"
    if isinstance(exc, InvalidComponent):
        return f"contains a part no {label} can have (an unknown prefix or office code)"
    if isinstance(exc, InvalidFormat):
        return f"is not in the format of a {label}"
    return f"is not a valid {label}"


def _eu(country: str, value: str) -> str:
    prefix = "EL" if country == "GR" else country
    compact = _SEPARATORS.sub("", value).upper()
    head = compact[:2]
    if head.isalpha() and head != prefix:
        if country == "GR" and head == "GR":
            compact = "EL" + compact[2:]
        elif head in EU_MEMBER_STATES or head == "EL":
            raise _Invalid(f"{value!r} is a VAT id of {head}, but the party is in {country} "
                           f"(expected the prefix {prefix})")
        else:
            compact = prefix + compact
    elif not head.isalpha():
        compact = prefix + compact
    try:
        return eu_vat.validate(compact)
    except ValidationError as exc:
        raise _Invalid(f"{value!r} {_reason(exc, f'{country} VAT id')}") from None


def _gb(value: str) -> str:
    compact = _SEPARATORS.sub("", value).upper()
    prefix = "XI" if compact.startswith("XI") else "GB"
    try:
        return prefix + gb_vat.validate(compact.removeprefix("XI"))
    except ValidationError as exc:
        raise _Invalid(f"{value!r} {_reason(exc, 'GB VAT number')}") from None


def _us(value: str) -> str:
    try:
        return us_ein.format(us_ein.validate(value))
    except ValidationError as exc:
        raise _Invalid(f"{value!r} {_reason(exc, 'US EIN (NN-NNNNNNN)')}") from None


def _other(country: str, value: str) -> str:
    module = get_cc_module(country.lower(), "vat") if re.fullmatch(r"[A-Z]{2}", country) else None
    if module is None:
        raise _Invalid(f"cannot check {value!r}: no validation rule is known for tax ids of country {country!r}")
    try:
        return module.compact(module.validate(value))
    except ValidationError as exc:
        raise _Invalid(f"{value!r} {_reason(exc, f'{country} tax id')}") from None


def _normalize(country: str, value: str | None) -> str:
    code = normalize_country(country)
    if value is None or not value.strip():
        raise _Invalid(f"no tax id given for a party in {code or '(no country)'}")
    if code in EU_MEMBER_STATES:
        return _eu(code, value.strip())
    if code == "GB":
        return _gb(value.strip())
    if code == "US":
        return _us(value.strip())
    return _other(code, value.strip())


def check_tax_id(country: str, value: str | None) -> str | None:
    """None when `value` is a valid tax id of a party in `country`, else a message saying why it is not.

    EU member states and GB are checked as VAT ids, US as an EIN, other countries through python-stdnum's
    VAT module for that country where it has one.
    """
    try:
        _normalize(country, value)
    except _Invalid as exc:
        return str(exc)
    return None


def normalize_tax_id(country: str, value: str) -> str:
    """The canonical form of a valid tax id ("de 136 695 976" -> "DE136695976"); ValidationError if invalid."""
    try:
        return _normalize(country, value)
    except _Invalid as exc:
        raise InvoiceflowValidationError(str(exc), field="tax_id") from None
