"""Tax id checks: canonical forms, the Greek EL prefix, country mismatch and readable reasons."""

from __future__ import annotations

import pytest

from invoiceflow.errors import ValidationError
from invoiceflow.tax import check_tax_id, normalize_tax_id


@pytest.mark.parametrize(("country", "value", "canonical"), [
    ("DE", "DE136695976", "DE136695976"),
    ("DE", "de 136 695 976", "DE136695976"),
    ("DE", "136695976", "DE136695976"),
    ("AT", "U13585627", "ATU13585627"),
    ("FR", "FR 40 303 265 045", "FR40303265045"),
    ("NL", "NL004495445B01", "NL004495445B01"),
    ("BE", "BE0403019261", "BE0403019261"),
    ("IT", "IT00743110157", "IT00743110157"),
    ("ES", "ESB58378431", "ESB58378431"),
    ("IE", "IE6388047V", "IE6388047V"),
    ("PL", "PL8567346215", "PL8567346215"),
    ("GR", "EL094259216", "EL094259216"),
    ("GR", "GR094259216", "EL094259216"),
    ("GR", "094259216", "EL094259216"),
    ("EL", "EL094259216", "EL094259216"),
    ("GB", "GB980780684", "GB980780684"),
    ("GB", "980 7806 84", "GB980780684"),
    ("UK", "GB980780684", "GB980780684"),
    ("US", "042103594", "04-2103594"),
    ("US", "04-2103594", "04-2103594"),
])
def test_valid_ids_normalize_to_their_canonical_form(country, value, canonical):
    assert check_tax_id(country, value) is None
    assert normalize_tax_id(country, value) == canonical


@pytest.mark.parametrize(("country", "value", "reason"), [
    ("DE", "DE136695977", "check-digit"),
    ("DE", "DE13669597", "wrong length"),
    ("DE", "FR40303265045", "VAT id of FR, but the party is in DE"),
    ("FR", "DE136695976", "VAT id of DE, but the party is in FR"),
    ("GR", "DE136695976", "expected the prefix EL"),
    ("NL", "NL004495446B01", "NL VAT id"),
    ("GB", "GB980780685", "GB VAT number"),
    ("US", "00-1234567", "US EIN"),
    ("US", "12-34567", "US EIN"),
    ("DE", "", "no tax id given for a party in DE"),
    ("DE", None, "no tax id given"),
    ("ZZ", "123", "no validation rule is known for tax ids of country 'ZZ'"),
])
def test_invalid_ids_say_why(country, value, reason):
    message = check_tax_id(country, value)
    assert message is not None
    assert reason in message
    if value:
        assert repr(value) in message  # names the value at fault


def test_normalize_refuses_an_invalid_id_with_the_reason():
    with pytest.raises(ValidationError) as caught:
        normalize_tax_id("DE", "DE136695977")
    assert caught.value.problems[0].field == "tax_id"
    assert "check-digit" in str(caught.value)


def test_other_countries_use_python_stdnum_where_it_has_a_vat_module():
    assert check_tax_id("CH", "CHE-116.281.710 MWST") is None
    assert check_tax_id("CH", "CHE-116.281.711 MWST") is not None
