"""Numbers, amounts, dates and country names as a reader in the invoice's locale expects them, via babel.

Formatting must never change an amount: totals are already rounded by totals.py (at most two decimals), so
amounts are formatted without quantization. babel pads them to the currency's ISO 4217 digits (JPY 0,
EUR 2, KWD 3: "37,040 KWD") but never rounds, and prices keep the precision they were stated with.
"""

from __future__ import annotations

import re
import datetime
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from invoiceflow.documents.model import Period
from invoiceflow.documents.pdf.labels import LANGUAGES
from invoiceflow.errors import ValidationError

NBSP = "\u00a0"
# CLDR's currency spacing: a currency shown as letters (KWD, CHF) is kept apart from the digits next to it.
_CODE_BEFORE_DIGIT = re.compile(r"([A-Z]{2,})(?=[-\d])")
_DIGIT_BEFORE_CODE = re.compile(r"(?<=\d)([A-Z]{2,})")


def parse_locale(locale: str) -> Locale:
    """The babel locale for `locale` ("de", "de_AT", "fr-CH"); its language must be one we have labels for."""
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.language not in LANGUAGES:
        raise ValidationError(
            f"unsupported locale {locale!r}: use a locale of one of the languages {', '.join(LANGUAGES)} "
            "(for example en, de, de_AT, fr, fr_CH)", field="locale")
    return parsed


class Formatter:
    """Formats the values of one invoice (one currency) for one locale."""

    def __init__(self, locale: str, currency: str):
        self.locale = parse_locale(locale)
        self.language = self.locale.language
        self.currency = currency

    def _spaced(self, text: str) -> str:
        text = _CODE_BEFORE_DIGIT.sub(lambda m: m.group(1) + NBSP, text)
        return _DIGIT_BEFORE_CODE.sub(lambda m: NBSP + m.group(1), text)

    def money(self, value: Decimal) -> str:
        """An amount with the currency's digits ("1.234,56 €", "¥7,642", "37,040 KWD"); never rounded."""
        return self._spaced(format_currency(value, self.currency, locale=self.locale, decimal_quantization=False))

    def price(self, value: Decimal) -> str:
        """A unit price as stated, with at least the currency's digits ("0,0125 €")."""
        return self.money(value)

    def quantity(self, value: Decimal) -> str:
        return format_decimal(value, locale=self.locale, decimal_quantization=False)

    def percent(self, rate: Decimal | None) -> str:
        """A VAT rate given in percent ("19 %", "7.5%"); scaling by 10^-2 is exact."""
        if rate is None:
            return "–"
        return format_percent(rate.scaleb(-2), locale=self.locale, decimal_quantization=False)

    def date(self, value: datetime.date | None) -> str:
        return "" if value is None else format_date(value, "medium", locale=self.locale)

    def period(self, period: Period | None) -> str:
        if period is None or (period.start is None and period.end is None):
            return ""
        return f"{self.date(period.start)} – {self.date(period.end)}".strip(" –")

    def country(self, code: str) -> str:
        """The country's name in the reader's language; an unknown code is printed as given."""
        return self.locale.territories.get(code.upper(), code)
