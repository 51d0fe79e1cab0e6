"""The seller's payment details, invoice contact and legal registration, per legal entity.

Printed on every invoice of the entity: the account to pay into (BG-16; SEPA credit transfer with an IBAN,
or a plain credit transfer to an account number), whom to contact about the invoice (BG-6) and the legal
registration id (BT-30). XRechnung, and Peppol between German parties, require the account and the contact;
other formats take them when present. Setting them is idempotent (the same values again change nothing)
and every change is an audit entry with the values before and after.

Options left out keep their stored value and an empty string clears one, so details can be completed in
several steps.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumError

from invoiceflow.audit.log import append_entry
from invoiceflow.errors import NotFound, Problem, ValidationError
from invoiceflow.store.document_tables import legal_entity_payment
from invoiceflow.store.tables import legal_entities

SEPA, CREDIT_TRANSFER = "58", "30"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class PaymentDetails:
    """What a legal entity states on its invoices besides the catalog's name, address and tax id."""

    means_code: str | None = None
    account_id: str | None = None
    bic: str | None = None
    account_name: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    legal_registration_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


_NAMES = tuple(f.name for f in fields(PaymentDetails))


def get_payment_details(conn: Connection, tenant_id: int, entity_code: str) -> PaymentDetails | None:
    """The stored details of legal entity `entity_code`, or None when none were set."""
    entity_id = _entity_id(conn, tenant_id, entity_code)
    row = conn.execute(select(legal_entity_payment).where(legal_entity_payment.c.tenant_id == tenant_id,
                                                          legal_entity_payment.c.legal_entity_id == entity_id)
                       ).mappings().first()
    return PaymentDetails(**{name: row[name] for name in _NAMES}) if row else None


def set_payment_details(conn: Connection, tenant_id: int, entity_code: str, *, actor: str, at: datetime,
                        iban: str | None = None, account_id: str | None = None, bic: str | None = None,
                        account_name: str | None = None, contact_name: str | None = None,
                        contact_phone: str | None = None, contact_email: str | None = None,
                        legal_id: str | None = None) -> tuple[PaymentDetails, bool]:
    """Merge the given values into the entity's details, in `conn`'s transaction; (details, changed).

    Every problem is reported at once and nothing is written then.
    """
    record = f"legal entity {entity_code}"
    if not (actor or "").strip():
        raise ValidationError("every change needs an actor (--actor NAME)", field="actor")
    entity_id = _entity_id(conn, tenant_id, entity_code)
    before = get_payment_details(conn, tenant_id, entity_code) or PaymentDetails()
    given = {"bic": bic, "account_name": account_name, "contact_name": contact_name, "contact_phone": contact_phone,
             "contact_email": contact_email, "legal_registration_id": legal_id}
    problems: list[Problem] = []
    if iban is not None and account_id is not None:
        problems.append(Problem(record, "iban", "give either an IBAN (SEPA credit transfer) or an account id "
                                                "(credit transfer), not both"))
    elif iban is not None:
        given.update(means_code=SEPA if iban.strip() else None, account_id=_iban(iban, record, problems))
    elif account_id is not None:
        given.update(means_code=CREDIT_TRANSFER if account_id.strip() else None, account_id=account_id.strip() or None)
    if bic:
        given["bic"] = _bic(bic, record, problems)
    if contact_email and not _EMAIL.match(contact_email.strip()):
        problems.append(Problem(record, "contact_email", f"{contact_email!r} is not an e-mail address"))
    if problems:
        raise ValidationError(problems)
    values = before.as_dict()
    for name, value in given.items():
        if value is not None:
            values[name] = value.strip() if isinstance(value, str) and value.strip() else None
    after = PaymentDetails(**values)
    if after == before:
        return after, False
    conn.execute(delete(legal_entity_payment).where(legal_entity_payment.c.tenant_id == tenant_id,
                                                    legal_entity_payment.c.legal_entity_id == entity_id))
    conn.execute(insert(legal_entity_payment).values(tenant_id=tenant_id, legal_entity_id=entity_id,
                                                     updated_by=actor, updated_at=at, **after.as_dict()))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="legal_entity.payment_details_set",
                 object_type="legal_entity", object_id=entity_code, at=at,
                 payload={"before": before.as_dict(), "after": after.as_dict()})
    return after, True


def _iban(value: str, record: str, problems: list[Problem]) -> str | None:
    if not value.strip():
        return None
    try:
        return stdnum_iban.validate(value)
    except StdnumError as error:
        problems.append(Problem(record, "iban", f"{value!r} is not a valid IBAN ({error})"))
        return None


def _bic(value: str, record: str, problems: list[Problem]) -> str | None:
    try:
        return stdnum_bic.validate(value)
    except StdnumError as error:
        problems.append(Problem(record, "bic", f"{value!r} is not a valid BIC ({error})"))
        return None


def _entity_id(conn: Connection, tenant_id: int, code: str) -> int:
    found = conn.execute(select(legal_entities.c.id).where(legal_entities.c.tenant_id == tenant_id,
                                                           legal_entities.c.code == code)).scalar()
    if found is None:
        known = conn.execute(select(legal_entities.c.code).where(legal_entities.c.tenant_id == tenant_id)
                             .order_by(legal_entities.c.code)).scalars().all()
        raise NotFound(f"legal entity {code!r} does not exist in this tenant (known: {', '.join(known) or 'none'})")
    return int(found)
