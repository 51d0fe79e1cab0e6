"""API keys and OAuth2 clients: created, listed, revoked; stored as scrypt hashes, shown in clear once.

A key reads `ifk_<prefix>_<secret>`. The prefix is public (it names the key in lists and finds its row);
the whole key is hashed with scrypt, a memory-hard function from the standard library, so a copy of the
table does not hand out usable keys. Each credential acts as one team member and is scoped to a subset of
the roles: the API grants the intersection of the credential's roles and the member's current roles, so
taking a role away from a person in `invoiceflow team` takes it away from their keys too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import Connection, insert, select, update

from invoiceflow.errors import NotFound, ValidationError
from invoiceflow.store.api_tables import api_keys, oauth_clients
from invoiceflow.team import ROLES, roles_of, set_member

KEY_PREFIX = "ifk_"
CLIENT_PREFIX = "ifc_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # 16 MiB per hash: slow for a thief, a few ms here (then cached)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + _b64(salt) + "$" + _b64(digest)


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(_unb64(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


def key_prefix(presented: str) -> str | None:
    """The public prefix of a presented key, or None if it does not look like one of ours."""
    if not presented.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = presented[len(KEY_PREFIX):].partition("_")
    return prefix if sep and prefix and secret else None


@dataclass(frozen=True, slots=True)
class Created:
    """A new credential: `secret` is the only time the clear text exists outside the caller's hands."""

    id: int
    name: str  # the key's prefix, or the client id
    secret: str
    member: str
    roles: tuple[str, ...]


def create_api_key(conn: Connection, tenant_id: int, *, member: str, roles: Iterable[str], actor: str,
                   at: datetime, label: str | None = None, grant_member: bool = True) -> Created:
    """A new key for `member` scoped to `roles`; `grant_member` also gives the member those roles."""
    wanted = _check_roles(roles)
    _ensure_member(conn, tenant_id, member, wanted, actor=actor, at=at, grant=grant_member)
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    new_id = conn.execute(insert(api_keys).values(
        tenant_id=tenant_id, prefix=prefix, hash=hash_secret(key), member=member, roles=list(wanted),
        label=label, created_at=at, created_by=actor).returning(api_keys.c.id)).scalar_one()
    return Created(int(new_id), KEY_PREFIX + prefix, key, member, wanted)


def create_oauth_client(conn: Connection, tenant_id: int, *, member: str, roles: Iterable[str], actor: str,
                        at: datetime, label: str | None = None, grant_member: bool = True) -> Created:
    wanted = _check_roles(roles)
    _ensure_member(conn, tenant_id, member, wanted, actor=actor, at=at, grant=grant_member)
    client_id = CLIENT_PREFIX + secrets.token_hex(8)
    secret = "ifs_" + secrets.token_urlsafe(32)
    new_id = conn.execute(insert(oauth_clients).values(
        tenant_id=tenant_id, client_id=client_id, secret_hash=hash_secret(secret), member=member,
        roles=list(wanted), label=label, created_at=at, created_by=actor).returning(oauth_clients.c.id)).scalar_one()
    return Created(int(new_id), client_id, secret, member, wanted)


def list_credentials(conn: Connection, tenant_id: int, *, clients: bool = False) -> list[dict]:
    """Keys (or OAuth clients) of a tenant, without any secret material."""
    table = oauth_clients if clients else api_keys
    name = table.c.client_id if clients else table.c.prefix
    rows = conn.execute(select(table.c.id, name.label("name"), table.c.member, table.c.roles, table.c.label,
                               table.c.created_at, table.c.created_by, table.c.last_used_at, table.c.revoked_at)
                        .where(table.c.tenant_id == tenant_id).order_by(table.c.id)).mappings()
    return [{**r, "name": r["name"] if clients else KEY_PREFIX + r["name"]} for r in rows]


def revoke(conn: Connection, tenant_id: int, name: str, *, at: datetime) -> bool:
    """Revoke a key (by `ifk_<prefix>` or prefix) or a client (by client id); False if already revoked."""
    if name.startswith(CLIENT_PREFIX):
        table, where = oauth_clients, oauth_clients.c.client_id == name
    else:
        table, where = api_keys, api_keys.c.prefix == name.removeprefix(KEY_PREFIX).split("_")[0]
    row = conn.execute(select(table.c.id, table.c.revoked_at).where(where, table.c.tenant_id == tenant_id)).first()
    if row is None:
        raise NotFound(f"no API key or OAuth client {name!r} in this tenant")
    if row.revoked_at is not None:
        return False
    conn.execute(update(table).where(table.c.id == row.id).values(revoked_at=at))
    return True


def _check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(sorted(set(roles)))
    if not wanted:
        raise ValidationError("give at least one role", field="role")
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise ValidationError(f"unknown role(s) {', '.join(unknown)} (known: {', '.join(ROLES)})", field="role")
    return wanted


def _ensure_member(conn: Connection, tenant_id: int, member: str, roles: tuple[str, ...], *, actor: str,
                   at: datetime, grant: bool) -> None:
    held = set(roles_of(conn, tenant_id, member))
    if grant and not set(roles) <= held:
        set_member(conn, tenant_id, member, held | set(roles), actor=actor, at=at)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
