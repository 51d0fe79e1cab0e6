"""Money on Decimal, and the ONE place where amounts are rounded.

Conventions (see docs/pricing.md):

* Amounts are `decimal.Decimal`, never float. A float handed to this module is refused.
* Every charge keeps two figures: the *precise* amount (unrounded, as the price arithmetic gives it) and the
  *amount* (rounded to the currency's ISO 4217 minor unit with ROUND_HALF_UP by `round_amount`).
* Rounding happens only through `round_amount`, at these documented points: once per invoice line, once per
  invoice-level discount, once per minimum-commitment true-up, once per proration credit. Invoice totals are
  sums of already-rounded figures, so lines always add up to the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext

from invoiceflow.errors import PricingError

# ISO 4217 minor units for active currencies whose exponent is not 2.
_EXPONENT_NOT_TWO: dict[str, int] = {
    # zero-decimal
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # three-decimal
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four-decimal
    "CLF": 4, "UYW": 4,
}

# Active ISO 4217 codes with two minor digits.
_TWO_DECIMAL = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
    CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ
    GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN
    UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG""".split()
)

#: Precision used for intermediate price arithmetic (precise amounts). Far above any currency's needs.
PRECISION = 34
_CONTEXT = Context(prec=PRECISION)  # used explicitly: no thread-local context switch on the hot path


def exponent(currency: str) -> int:
    """ISO 4217 minor-unit exponent of `currency` (JPY 0, USD 2, KWD 3)."""
    code = currency.upper() if isinstance(currency, str) else currency
    if code in _EXPONENT_NOT_TWO:
        return _EXPONENT_NOT_TWO[code]
    if code in _TWO_DECIMAL:
        return 2
    raise PricingError(f"unknown ISO 4217 currency code {currency!r}", field="currency")


def is_currency(code: object) -> bool:
    return isinstance(code, str) and (code in _EXPONENT_NOT_TWO or code in _TWO_DECIMAL)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


def round_amount(precise: Decimal, currency: str) -> Decimal:
    """Round a precise amount to the currency's minor unit, half away from zero. The only rounding function."""
    if not isinstance(precise, Decimal):
        raise TypeError(f"money must be Decimal, got {type(precise).__name__}")
    return precise.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_decimal(value: object, *, record: str = "", field: str = "", allow_negative: bool = True) -> Decimal:
    """Parse a user-given number (str, int or Decimal; never float) into a finite Decimal, or raise with location."""
    if isinstance(value, bool) or isinstance(value, float):
        raise PricingError(
            f"must be a decimal string or an integer, not {type(value).__name__} {value!r} "
            "(floats lose cents; quote the number)",
            record=record,
            field=field,
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise PricingError(f"{value!r} is not a number", record=record, field=field) from None
    else:
        raise PricingError(f"{value!r} is not a number", record=record, field=field)
    if not result.is_finite():
        raise PricingError(f"{value!r} is not a finite number", record=record, field=field)
    if not allow_negative and result < 0:
        raise PricingError(f"must not be negative, got {value}", record=record, field=field)
    return result


def ceil_div(numerator: Decimal, denominator: Decimal) -> Decimal:
    """Smallest integer >= numerator/denominator (package counting)."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return (numerator / denominator).to_integral_value(rounding=ROUND_CEILING)


def mul(*factors: Decimal) -> Decimal:
    """Exact-enough product at PRECISION significant digits (no rounding to currency)."""
    result = Decimal(1)
    for f in factors:
        result = _CONTEXT.multiply(result, f)
    return result


def div(numerator: Decimal, denominator: Decimal) -> Decimal:
    return _CONTEXT.divide(numerator, denominator)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency. Arithmetic keeps full precision; `rounded()` applies the currency's exponent."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money.amount must be Decimal, got {type(self.amount).__name__}")
        exponent(self.currency)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> "Money":
        return cls(to_decimal(amount, field="amount"), currency)

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(Decimal(0), currency)

    def _check(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise PricingError(f"cannot combine {self.currency} with {other.currency}", field="currency")

    def __add__(self, other: "Money") -> "Money":
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> "Money":
        if isinstance(factor, float):
            raise TypeError("cannot multiply Money by float")
        return Money(mul(self.amount, Decimal(factor)), self.currency)

    def rounded(self) -> "Money":
        return Money(round_amount(self.amount, self.currency), self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def format_amount(amount: Decimal, currency: str) -> str:
    """Plain fixed-point text with exactly the currency's digits (for JSON and tables)."""
    return str(round_amount(amount, currency))
