"""Tryton (trytond with the account module) as the ledger: each journal entry becomes one posted
`account.move`, created over trytond's JSON-RPC API.

How an entry maps onto Tryton:

* the move is made in the configured company, journal (by code) and the standard period that contains
  the entry's date; its `description` holds our `entry_key`. Tryton's account.move has no reference
  field of its own, `origin` only points at Tryton records, and a posted move's description can no longer
  be edited, so the description is the one stable place for the external reference. Our moves have no
  origin; a move Tryton derives from one of them (a cancellation, a copy) keeps the description but points
  its origin at ours, so lookups ignore moves that have an origin;
* each line's account is looked up by `code` in the company's chart; an unknown, ambiguous, closed or view
  account refuses the whole entry before anything is written;
* lines on accounts that require a party (receivables) get the party whose `code` is the customer code
  given by `party_for(entry)` (or `default_party`); the party is created on first use;
* entries must be in the company's currency: this connector does not post second-currency amounts.

`post` looks the key up before creating anything (reconcile before retry), finishes a move that an
interrupted attempt left in draft, and refuses a key whose move holds different amounts.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Callable

import httpx

from invoiceflow.effects.errors import Permanent
from invoiceflow.ledger.connectors.base import ErpEntry, ErpLine, ExternalRef, permanent, transient
from invoiceflow.ledger.entries import JournalEntry, JournalLine

SYSTEM = "tryton"
_TRANSIENT_SERVER_ERRORS = ("database is locked", "could not serialize", "deadlock", "timeout")
_MOVE_FIELDS = ["number", "state", "date", "description", "company.currency.code", "lines.debit", "lines.credit",
                "lines.description", "lines.account.code", "lines.party.code"]


class _Unauthorized(Exception):
    """HTTP 401: wrong credentials at login, an expired or revoked session afterwards."""


@dataclass(frozen=True, slots=True)
class _Company:
    id: int
    name: str
    currency: str


def _encode(value: Any) -> Any:
    """Our values in trytond's JSON dialect: Decimals and dates travel as tagged objects, never floats."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": format(value, "f")}
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode(obj: dict) -> Any:
    if obj.get("__class__") == "Decimal":
        return Decimal(obj["decimal"])
    if obj.get("__class__") == "date":
        return date(obj["year"], obj["month"], obj["day"])
    return obj


class TrytonConnector:
    """Journal entries to one Tryton company over JSON-RPC; see the module docstring for the mapping.

    Give `password` (the connector logs in, and logs in again when the session expires) or `session`
    (`(user_id, session_key)` from an earlier `common.db.login`; when it expires the effect is dead-lettered
    until a new one is configured).
    """

    name = SYSTEM

    def __init__(self, url: str, database: str, user: str, *, password: str | None = None,
                 session: tuple[int, str] | None = None, company: int | str, journal: str,
                 party_for: Callable[[JournalEntry], str | None] | None = None, default_party: str | None = None,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        if password is None and session is None:
            raise ValueError("TrytonConnector needs a password or a session")
        self.url, self.database, self.user = url.rstrip("/"), database, user
        self.company, self.journal = company, journal
        self.party_for, self.default_party, self.timeout = party_for, default_party, timeout
        self._password, self._auth = password, session
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._context: dict[str, Any] | None = None
        self._company: _Company | None = None
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "TrytonConnector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the ErpConnector interface

    def post(self, entry: JournalEntry) -> ExternalRef:
        """The posted move for `entry`, made now or found from an earlier attempt (looked up first)."""
        op = f"post {entry.entry_key}"
        found = self._find(entry.entry_key, op)
        if found is not None:
            return self._settle(*found, entry, op)
        company = self._company_info(op)
        if entry.currency != company.currency:
            raise permanent(SYSTEM, op, f"the entry is in {entry.currency} but company '{company.name}' keeps "
                                        f"its books in {company.currency}; this connector posts one currency")
        accounts = self._accounts({line.account for line in entry.lines}, company, op)
        values: dict[str, Any] = {
            "company": company.id, "journal": self._journal_id(op), "period": self._period_id(entry.date, op),
            "date": entry.date, "description": entry.entry_key}
        needs_party = sorted({line.account for line in entry.lines if accounts[line.account][1]})
        party_code = self._party_code(entry, needs_party, op) if needs_party else None
        party = self._party_id(party_code, op) if party_code else None  # the first write, after every check
        values["lines"] = [["create", [self._line_values(line, accounts[line.account], party, entry)
                                       for line in entry.lines]]]
        created = self._call(op, "model.account.move.create", [values])
        if not (isinstance(created, list) and len(created) == 1 and isinstance(created[0], int)):
            raise permanent(SYSTEM, op, f"account.move.create answered {created!r} instead of one new id")
        self._call(op, "model.account.move.post", created)
        ref, state = self._find(entry.entry_key, op) or (None, None)
        if ref is None or state != "posted":
            raise permanent(SYSTEM, op, f"move {created[0]} was posted but cannot be found as posted afterwards")
        return ref

    def lookup(self, entry_key: str) -> ExternalRef | None:
        found = self._find(entry_key, f"lookup {entry_key}")
        return found[0] if found else None

    def read(self, ref: ExternalRef) -> ErpEntry:
        op = f"read {ref.entry_key}"
        if ref.system != SYSTEM:
            raise permanent(SYSTEM, op, f"the reference belongs to {ref.system!r}, not to {SYSTEM}")
        rows = self._call(op, "model.account.move.read", [int(ref.id)], _MOVE_FIELDS)
        if not isinstance(rows, list) or len(rows) != 1:
            raise permanent(SYSTEM, op, f"move {ref.id} was not found")
        row = rows[0]
        try:
            lines = tuple(ErpLine(account=line["account."]["code"], debit=line["debit"], credit=line["credit"],
                                  party=(line.get("party.") or {}).get("code"), memo=line["description"] or "")
                          for line in row["lines."])
            return ErpEntry(ref=self._ref(row, op), date=row["date"], state=row["state"],
                            currency=row["company."]["currency."]["code"], lines=lines)
        except (KeyError, TypeError) as exc:
            raise permanent(SYSTEM, op, f"the answer to account.move.read lacks {exc}; has Tryton's schema "
                                        "changed?") from exc

    # -- posting steps

    def _find(self, entry_key: str, op: str) -> tuple[ExternalRef, str] | None:
        company = self._company_info(op)
        rows = self._call(op, "model.account.move.search_read",
                          [("description", "=", entry_key), ("company", "=", company.id), ("origin", "=", None)],
                          0, None,
                          [("id", "ASC")], ["number", "state", "description"])
        if not isinstance(rows, list):
            raise permanent(SYSTEM, op, f"account.move.search_read answered {rows!r} instead of a list")
        if len(rows) > 1:
            ids = ", ".join(str(row.get("id")) for row in rows)
            raise permanent(SYSTEM, op, f"moves {ids} all carry the reference {entry_key!r}; keep one")
        if not rows:
            return None
        return self._ref(rows[0], op), self._text(rows[0], "state", op)

    def _settle(self, ref: ExternalRef, state: str, entry: JournalEntry, op: str) -> ExternalRef:
        """An earlier attempt made the move: same content is success (post it if it stayed in draft)."""
        differences = self.read(ref).differences(entry)
        if differences:
            raise permanent(SYSTEM, op, f"move {ref.number or ref.id} already carries {entry.entry_key!r} with "
                                        f"different content ({'; '.join(differences)}); a posted entry is never "
                                        "changed: post a reversal and a new entry")
        if state == "posted":
            return ref
        self._call(op, "model.account.move.post", [int(ref.id)])
        return self._find(entry.entry_key, op)[0]  # type: ignore[index]  # now carries its number

    def _line_values(self, line: JournalLine, account: tuple[int, bool], party: int | None,
                     entry: JournalEntry) -> dict[str, Any]:
        account_id, party_required = account
        memo = line.memo or entry.memo
        values: dict[str, Any] = {"account": account_id, "debit": line.debit, "credit": line.credit,
                                  "description": f"{memo} [{line.product}]" if line.product else memo}
        if party_required:  # Tryton refuses a party on an account that does not require one
            values["party"] = party
        return values

    def _party_code(self, entry: JournalEntry, accounts: list[str], op: str) -> str:
        code = (self.party_for(entry) if self.party_for else None) or self.default_party
        if not code:
            raise permanent(SYSTEM, op, f"account {', '.join(accounts)} requires a party in Tryton, and neither "
                                        "party_for nor default_party names the customer")
        return code

    def _accounts(self, codes: set[str], company: _Company, op: str) -> dict[str, tuple[int, bool]]:
        rows = self._call(op, "model.account.account.search_read",
                          [("company", "=", company.id), ("code", "in", sorted(codes))], 0, None, None,
                          ["code", "type", "closed", "party_required"])
        by_code: dict[str, list[dict]] = {}
        for row in rows or []:
            by_code.setdefault(self._text(row, "code", op), []).append(row)
        if unknown := sorted(codes - by_code.keys()):
            raise permanent(SYSTEM, op, f"unknown account code {', '.join(unknown)}: not in the chart of company "
                                        f"'{company.name}'; fix the GL mapping or add the account in Tryton")
        accounts = {}
        for code, found in sorted(by_code.items()):
            if len(found) > 1:
                raise permanent(SYSTEM, op, f"account code {code} names {len(found)} accounts in company "
                                            f"'{company.name}'; codes must be unique to post by code")
            if not found[0].get("type"):
                raise permanent(SYSTEM, op, f"account {code} is a view account (no type) and takes no moves")
            if found[0].get("closed"):
                raise permanent(SYSTEM, op, f"account {code} is closed in company '{company.name}'")
            accounts[code] = (found[0]["id"], bool(found[0].get("party_required")))
        return accounts

    def _period_id(self, on: date, op: str) -> int:
        company = self._company_info(op)
        rows = self._call(op, "model.account.period.search_read",
                          [("company", "=", company.id), ("type", "=", "standard"), ("start_date", "<=", on),
                           ("end_date", ">=", on)], 0, None, None, ["name", "state"])
        if not rows:
            raise permanent(SYSTEM, op, f"no accounting period of company '{company.name}' contains {on}; "
                                        "create the fiscal year and its periods in Tryton")
        if rows[0].get("state") != "open":
            raise permanent(SYSTEM, op, f"period {rows[0].get('name')} containing {on} is {rows[0].get('state')}")
        return rows[0]["id"]

    def _journal_id(self, op: str) -> int:
        rows = self._call(op, "model.account.journal.search_read", [("code", "=", self.journal)], 0, None, None,
                          ["code"])
        if not rows:
            raise permanent(SYSTEM, op, f"journal {self.journal!r} not found (journals are configured by code)")
        return rows[0]["id"]

    def _party_id(self, code: str, op: str) -> int:
        """The party with this code, created on first use (once more a search if a concurrent post won)."""
        for attempt in range(2):
            rows = self._call(op, "model.party.party.search_read", [("code", "=", code)], 0, 1, None, ["code"])
            if rows:
                return rows[0]["id"]
            try:
                return self._call(op, "model.party.party.create", [{"name": code, "code": code}])[0]
            except Permanent:  # the code is unique in Tryton: someone else just created it
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _company_info(self, op: str) -> _Company:
        if self._company is not None:
            return self._company
        by = ("id", "=", self.company) if isinstance(self.company, int) else ("party.name", "=", self.company)
        rows = self._call(op, "model.company.company.search_read", [by], 0, None, None,
                          ["party.name", "currency.code"])
        if not rows:
            raise permanent(SYSTEM, op, f"company {self.company!r} not found (or not allowed for user "
                                        f"'{self.user}')")
        if len(rows) > 1:
            raise permanent(SYSTEM, op, f"{len(rows)} companies are named {self.company!r}; configure its id")
        try:
            company = _Company(rows[0]["id"], rows[0]["party."]["name"], rows[0]["currency."]["code"])
        except (KeyError, TypeError) as exc:
            raise permanent(SYSTEM, op, f"the company record lacks {exc}; has Tryton's schema changed?") from exc
        self._context = {**(self._context or {}), "company": company.id, "companies": [company.id]}
        self._company = company
        return company

    def _ref(self, row: dict, op: str) -> ExternalRef:
        if not isinstance(row.get("id"), int):
            raise permanent(SYSTEM, op, f"a move record lacks its id: {row!r}")
        return ExternalRef(SYSTEM, row["id"], row.get("number") or None, self._text(row, "description", op))

    def _text(self, row: dict, name: str, op: str) -> str:
        if not isinstance(row, dict) or not isinstance(row.get(name), str):
            raise permanent(SYSTEM, op, f"a record in Tryton's answer lacks {name!r}: {row!r}")
        return row[name]

    # -- JSON-RPC

    def _call(self, op: str, method: str, *args: Any) -> Any:
        """An authenticated call with the user's context; logs in (again) when needed."""
        for attempt in range(2):
            try:
                if self._auth is None:
                    self._login(op)
                if self._context is None:
                    context = self._rpc(op, "model.res.user.get_preferences", [True, {}])
                    if not isinstance(context, dict):
                        raise permanent(SYSTEM, op, "res.user.get_preferences did not answer a context")
                    self._context = context
                return self._rpc(op, method, [*args, self._context])
            except _Unauthorized:
                if self._password is None or attempt:
                    raise permanent(SYSTEM, op, f"the session of user '{self.user}' on database "
                                                f"'{self.database}' was refused (expired or revoked)") from None
                self._auth = None  # the session expired: log in again, once

    def _login(self, op: str) -> None:
        if self._password is None:
            raise permanent(SYSTEM, op, "no session and no password to log in with")
        try:
            answer = self._rpc(op, "common.db.login", [self.user, {"password": self._password}, "en"], auth=False)
        except _Unauthorized:
            raise permanent(SYSTEM, op, f"wrong user or password: '{self.user}' cannot log in to database "
                                        f"'{self.database}' at {self.url}") from None
        if not (isinstance(answer, list) and len(answer) >= 2 and isinstance(answer[0], int)
                and isinstance(answer[1], str)):
            raise permanent(SYSTEM, op, f"the login answer {answer!r} lacks the user id and session key")
        self._auth = (answer[0], answer[1])

    def _rpc(self, op: str, method: str, params: list, *, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth and self._auth is not None:
            token = f"{self.user}:{self._auth[0]}:{self._auth[1]}".encode()
            headers["Authorization"] = "Session " + base64.b64encode(token).decode()
        body = json.dumps({"id": next(self._ids), "method": method, "params": _encode(params)})
        try:
            response = self._client.post(f"{self.url}/{self.database}/rpc/", content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise transient(SYSTEM, op, f"{method} got no answer within {self.timeout}s from {self.url}; it may "
                                        "have been applied, so the next attempt looks the entry up first") from exc
        except httpx.HTTPError as exc:
            raise transient(SYSTEM, op, f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from exc
        return self._answer(op, method, response)

    def _answer(self, op: str, method: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status == 401:
            raise _Unauthorized()
        if status == 429:
            retry_after = response.headers.get("Retry-After", "")
            raise transient(SYSTEM, op, f"{method}: Tryton is throttling requests (HTTP 429)",
                            retry_after=float(retry_after) if retry_after.isdigit() else None)
        if status >= 500:
            raise transient(SYSTEM, op, f"{method} failed on the server (HTTP {status})")
        if status == 403:
            raise permanent(SYSTEM, op, f"user '{self.user}' may not call {method} (HTTP 403)")
        if status == 404:
            raise permanent(SYSTEM, op, f"no Tryton database '{self.database}' at {self.url} (HTTP 404)")
        if status != 200:
            raise permanent(SYSTEM, op, f"{method} answered HTTP {status}: {response.text[:200]!r}")
        try:
            data = json.loads(response.text, object_hook=_decode, parse_float=Decimal)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not ("result" in data or "error" in data):
            raise permanent(SYSTEM, op, f"the answer to {method} is not JSON-RPC: {response.text[:200]!r}")
        if data.get("error"):
            raise self._error(op, method, data["error"])
        return data["result"]

    def _error(self, op: str, method: str, error: Any) -> Exception:
        """Tryton's refusals (UserError, ...) need a fix; lock and serialisation conflicts clear by retrying."""
        kind, detail = (error[0], error[1] if len(error) > 1 else "") if isinstance(error, list) and error \
            else (str(error), "")
        if kind == "UserError" and isinstance(detail, list) and detail:
            return permanent(SYSTEM, op, f"Tryton refused {method}: {' '.join(str(d) for d in detail[:2] if d)}")
        if kind == "ConcurrencyException":
            return transient(SYSTEM, op, f"{method}: concurrent change in Tryton: {detail}")
        if kind in ("UserWarning", "LoginException"):
            return permanent(SYSTEM, op, f"{method} needs a person in Tryton ({kind}): {detail}")
        text = str(kind).strip().splitlines()[0] if str(kind).strip() else repr(error)
        if any(marker in text.lower() for marker in _TRANSIENT_SERVER_ERRORS):
            return transient(SYSTEM, op, f"{method}: {text}")
        return permanent(SYSTEM, op, f"{method} failed in Tryton: {text}")
