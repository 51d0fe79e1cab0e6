"""A realistic sample tenant: a few hundred customers across every charge model, currency and time zone.

Deterministic (seeded), so the same demo prints the same numbers. Running it again on the same database
shows idempotency: nothing is applied, ingested or billed twice.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterator

from stdnum import luhn
from stdnum.es import cif
from stdnum.iso7064 import mod_11_10
from stdnum.jp import cn as jp_cn

from invoiceflow.rating.result import plain

TENANT = "demo"
PERIODS = ("2026-09", "2026-10")
SEED = 20261101

# (legal entity, currency, country, price factor, customer time zones)
MARKETS = [
    ("acme-us", "USD", "US", Decimal(1), ["America/New_York", "America/Chicago", "America/Los_Angeles"]),
    ("acme-eu", "EUR", "DE", Decimal(1), ["Europe/Berlin", "Europe/Paris", "Europe/Madrid"]),
    ("acme-uk", "GBP", "GB", Decimal("0.8"), ["Europe/London"]),
    ("acme-jp", "JPY", "JP", Decimal(150), ["Asia/Tokyo"]),
]
# Where customers in each time zone are billed: (city, postal code, country, US state).
PLACES = {
    "America/New_York": ("New York", "10001", "US", "NY"), "America/Chicago": ("Chicago", "60601", "US", "IL"),
    "America/Los_Angeles": ("Los Angeles", "90012", "US", "CA"), "Europe/Berlin": ("Berlin", "10115", "DE", None),
    "Europe/Paris": ("Paris", "75001", "FR", None), "Europe/Madrid": ("Madrid", "28001", "ES", None),
    "Europe/London": ("London", "EC1A 1BB", "GB", None), "Asia/Tokyo": ("Tokyo", "100-0001", "JP", None),
}
# The sellers: registered address and tax id of each legal entity.
ENTITIES = {
    "acme-us": ("Acme Cloud Inc.", "12-3456789", {"line1": "100 Congress Ave", "city": "Austin",
                                                  "postal_code": "78701", "region": "TX", "country": "US"}),
    "acme-eu": ("Acme Cloud GmbH", "DE136695976", {"line1": "Friedrichstr. 68", "city": "Berlin",
                                                   "postal_code": "10117", "country": "DE"}),
    "acme-uk": ("Acme Cloud Ltd", "GB980780684", {"line1": "1 Finsbury Square", "city": "London",
                                                 "postal_code": "EC2A 1AE", "country": "GB"}),
    "acme-jp": ("Acme Cloud KK", "8700110005901", {"line1": "1-1 Marunouchi", "city": "Tokyo",
                                                   "postal_code": "100-0005", "country": "JP"}),
}

METERS = [
    {"code": "api_calls", "name": "API calls", "aggregation": "count", "group_by": ["region"], "unit": "call"},
    {"code": "tokens", "name": "Model tokens", "aggregation": "sum", "field": "tokens", "group_by": ["model"]},
    {"code": "storage_gb", "name": "Peak storage", "aggregation": "max", "unit": "GB"},
    {"code": "active_users", "name": "Monthly active users", "aggregation": "unique_count", "field": "user_id"},
    {"code": "seats", "name": "Seats (time-weighted)", "aggregation": "weighted_sum"},
    {"code": "nodes", "name": "Licensed nodes", "aggregation": "latest"},
    {"code": "payments", "name": "Payment volume", "aggregation": "sum"},
]


def _p(value: str, factor: Decimal, currency: str) -> str:
    scaled = Decimal(value) * factor
    return plain(scaled.quantize(Decimal(1)) if currency == "JPY" and scaled >= 1 else scaled)


def _plans(currency: str, factor: Decimal) -> list[dict[str, Any]]:
    p = lambda v: _p(v, factor, currency)  # noqa: E731
    c = currency.lower()
    return [
        {"code": f"starter-{c}", "name": "Starter", "currency": currency, "charges": [
            {"code": "base", "product": "platform", "price": {"model": "flat", "amount": p("29")}, "timing": "advance"},
            {"code": "calls", "product": "api", "meter": "api_calls", "price": {"model": "standard", "unit_price": p("0.002")}},
        ]},
        {"code": f"growth-{c}", "name": "Growth", "currency": currency, "charges": [
            {"code": "base", "product": "platform", "price": {"model": "flat", "amount": p("199")}, "timing": "advance"},
            {"code": "tokens", "product": "ai", "meter": "tokens", "price": {"model": "graduated", "tiers": [
                {"up_to": "100000", "unit_price": "0", "flat_fee": "0"},
                {"up_to": "1000000", "unit_price": p("0.00002"), "flat_fee": "0"},
                {"up_to": None, "unit_price": p("0.00001"), "flat_fee": "0"}]}},
            {"code": "storage", "product": "storage", "meter": "storage_gb",
             "price": {"model": "package", "package_size": "100", "package_price": p("10"), "free_units": "50"}},
        ]},
        {"code": f"scale-{c}", "name": "Scale", "currency": currency, "charges": [
            {"code": "base", "product": "platform", "price": {"model": "flat", "amount": p("999")}, "timing": "advance"},
            {"code": "calls", "product": "api", "meter": "api_calls", "price": {"model": "volume", "tiers": [
                {"up_to": "1000", "unit_price": p("0.003"), "flat_fee": "0"},
                {"up_to": "10000", "unit_price": p("0.002"), "flat_fee": "0"},
                {"up_to": None, "unit_price": p("0.001"), "flat_fee": p("5")}]}},
            {"code": "nodes", "product": "platform", "meter": "nodes", "price": {"model": "standard", "unit_price": p("40")}},
        ]},
        {"code": f"payments-{c}", "name": "Payments", "currency": currency, "charges": [
            {"code": "processing", "product": "payments", "meter": "payments", "price": {
                "model": "percentage", "rate": "2.9", "fixed_fee": p("0.30"), "free_transactions": 3,
                "free_amount": p("100"), "min_per_transaction": None, "max_per_transaction": p("25")}},
            {"code": "platform", "product": "platform", "meter": "payments", "price": {
                "model": "graduated_percentage", "tiers": [
                    {"up_to": p("1000"), "rate": "1", "flat_fee": "0"},
                    {"up_to": None, "rate": "0.5", "flat_fee": p("2")}]}},
        ]},
        {"code": f"team-{c}", "name": "Team", "currency": currency, "charges": [
            {"code": "seat_fee", "product": "seats", "price": {"model": "flat", "amount": p("12")}, "timing": "arrears",
             "quantity": "5"},
            {"code": "mau", "product": "users", "meter": "active_users", "price": {"model": "standard", "unit_price": p("0.5")}},
            {"code": "extra_seats", "product": "seats", "meter": "seats", "price": {"model": "standard", "unit_price": p("8")}},
        ]},
    ]


def customer_record(i: int, rng: random.Random, code: str, account_id: str) -> dict[str, Any]:
    """Sample customer number `i` in its market (currency, legal entity, time zone rotate with `i`)."""
    entity, currency, _country, _factor, zones = MARKETS[i % len(MARKETS)]
    zone = zones[i % len(zones)]
    city, postal, country, state = PLACES[zone]
    address = {"line1": f"{i} Market Street", "city": city, "postal_code": postal, "country": country}
    if state:
        address["region"] = state
    record = {
        "code": code, "name": f"Customer {code.split('-')[-1]}", "email": f"billing+{i}@example.com",
        "timezone": zone, "currency": currency, "legal_entity": entity, "billing_address": address,
        "segment": rng.choice(["smb", "mid-market", "enterprise"]), "crm_id": f"0015g{i:08d}",
        "account_ids": [account_id],
    }
    tax_id = sample_tax_id(country, i)
    if tax_id:
        record["tax_ids"] = [{"type": "vat" if country != "JP" else "tax_id", "value": tax_id}]
    return record


def sample_tax_id(country: str, i: int) -> str | None:
    """A syntactically valid tax id for customer `i` (check digits computed, numbers made up)."""
    body = f"{10_000_000 + i * 7919 % 89_999_999:08d}"
    if country == "DE":
        return "DE" + body + mod_11_10.calc_check_digit(body)
    if country == "FR":
        siren = body + luhn.calc_check_digit(body)
        return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    if country == "ES":
        cif_body = "A" + body[1:]
        return "ES" + cif_body + cif.calc_check_digits(cif_body)[0]
    if country == "GB":
        return "GB980780684"
    if country == "JP":
        number = f"{700_000_000_000 + i:012d}"
        return jp_cn.calc_check_digit(number) + number
    return None


def gl_setup(entity: str) -> dict[str, Any]:
    """A small chart of accounts and the mapping the ledger posts with, per legal entity."""
    return {"legal_entity": entity, "accounts": [
        {"code": "1000", "name": "Bank", "type": "asset"},
        {"code": "1200", "name": "Trade receivables", "type": "asset"},
        {"code": "1210", "name": "Unbilled receivables", "type": "asset"},
        {"code": "2200", "name": "Output tax payable", "type": "liability"},
        {"code": "2400", "name": "Deferred revenue", "type": "liability"},
        {"code": "4000", "name": "Subscription revenue", "type": "revenue"},
        {"code": "4100", "name": "Usage revenue", "type": "revenue"}],
        "mappings": {"receivable": "1200", "cash": "1000", "unbilled": "1210", "tax": "2200",
                     "deferred_revenue": "2400", "revenue": "4100"},
        "revenue_by_product": {"platform": "4000", "seats": "4000"}}


def catalog(customers: int = 300, *, amended: bool = False) -> dict[str, Any]:
    """The demo tenant as one declarative document (what `invoiceflow apply` takes).

    `amended` adds what happens in mid-October: upgrades effective Oct 15 and immediate cancellations on
    Oct 20, which settle fees already billed in advance with credit notes and prorated charges.
    """
    rng = random.Random(SEED)
    doc: dict[str, list] = {k: [] for k in ("legal_entities", "customers", "products", "meters", "plans",
                                            "contracts", "subscriptions", "prepaid_credits", "gl")}
    doc["products"] = [{"code": c, "name": n, "tax_code": "digital_service"} for c, n in [
        ("platform", "Platform fee"), ("api", "API usage"), ("ai", "AI tokens"), ("storage", "Storage"),
        ("payments", "Payment processing"), ("seats", "Seats"), ("users", "Active users")]]
    doc["meters"] = METERS
    for code, currency, country, factor, _zones in MARKETS:
        name, tax_id, address = ENTITIES[code]
        doc["legal_entities"].append({"code": code, "name": name, "country": country, "currency": currency,
                                      "tax_id": tax_id, "address": address})
        doc["plans"] += _plans(currency, factor)
        doc["gl"].append(gl_setup(code))
    kinds = ["starter", "growth", "scale", "payments", "team"]
    for i in range(customers):
        _entity, currency, _country, factor, _zones = MARKETS[i % len(MARKETS)]
        code = f"cus-{i:04d}"
        kind = kinds[i % len(kinds)]
        plan = f"{kind}-{currency.lower()}"
        doc["customers"].append(customer_record(i, rng, code, f"tel-{i:05d}"))
        start = date(2026, 8, 1) + timedelta(days=rng.randrange(0, 80))
        version: dict[str, Any] = {"effective_from": "2026-08-01", "plan": plan}
        if i % 7 == 0:
            version["discounts"] = [{"code": "WELCOME10", "kind": "percent", "value": "10", "duration": "periods",
                                     "periods": 3}]
        if kind == "scale":
            version["minimum_commitment"] = _p("1500", factor, currency)
        versions = [version]
        if amended and kind == "growth" and i % 3 == 0:  # mid-October upgrade
            versions.append({"effective_from": "2026-10-15", "plan": f"scale-{currency.lower()}"})
        doc["contracts"].append({"code": f"ctr-{i:04d}", "customer": code, "currency": currency,
                                 "versions": versions})
        sub: dict[str, Any] = {
            "code": f"sub-{i:04d}", "contract": f"ctr-{i:04d}", "start_date": start.isoformat(),
            "interval": rng.choice(["monthly"] * 7 + ["quarterly", "annual"]),
            "anchor": "anniversary" if i % 4 == 1 else "calendar",
        }
        if i % 11 == 0:
            sub["trial_end"] = (start + timedelta(days=14)).isoformat()
        if amended and i % 17 == 5:
            sub["end_date"], sub["cancel_mode"] = "2026-10-20", "immediate"
        doc["subscriptions"].append(sub)
        if i % 9 == 0:
            doc["prepaid_credits"].append({"code": f"topup-{i:04d}", "customer": code, "currency": currency,
                                           "amount": _p("100", factor, currency),
                                           "granted_on": "2026-08-01"})
    return doc


def usage(customers: int = 300, per_customer: int = 60) -> Iterator[dict[str, Any]]:
    """Usage events for September and October 2026, some sent with the telemetry account id."""
    rng = random.Random(SEED + 1)
    start = datetime(2026, 9, 1, tzinfo=timezone.utc)
    span = 61 * 86_400
    for i in range(customers):
        for n in range(per_customer):
            # Each meter's events alternate between September and October, so no feed looks missing.
            month = (n // len(METERS)) % 2
            at = start + timedelta(days=30 * month, seconds=rng.randrange(span // 2))
            metric = METERS[(i + n) % len(METERS)]["code"]
            event: dict[str, Any] = {"transaction_id": f"evt-{i:04d}-{n:04d}", "metric": metric,
                                     "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "properties": {}}
            if n % 5 == 0:
                event["external_account_id"] = f"tel-{i:05d}"
            else:
                event["customer"] = f"cus-{i:04d}"
            if metric == "api_calls":
                event["properties"]["region"] = rng.choice(["eu", "us", "ap"])
            elif metric == "tokens":
                event["properties"] = {"model": rng.choice(["small", "large"]), "tokens": rng.randrange(1000, 90000)}
            elif metric == "storage_gb":
                event["value"] = str(rng.randrange(10, 900))
            elif metric == "active_users":
                event["properties"]["user_id"] = f"u{rng.randrange(40)}"
            elif metric == "seats":  # seats added over time; the level is time-weighted over the month
                event["value"] = rng.choice(["1", "1", "2"])
            elif metric == "nodes":
                event["value"] = str(rng.randrange(1, 12))
            elif metric == "payments":
                event["value"] = str(Decimal(rng.randrange(500, 90000)).scaleb(-2))
            yield event


def late_usage(customers: int = 300) -> Iterator[dict[str, Any]]:
    """Events that arrive after October was invoiced: stored and reported as late, never billed silently."""
    for i in range(0, customers, 50):
        yield {"transaction_id": f"late-{i:04d}", "customer": f"cus-{i:04d}", "metric": "api_calls",
               "timestamp": "2026-10-30T12:00:00Z", "properties": {"region": "eu"}}
