"""The invoice state machine as data: which action moves a document from which status to which.

Pure: no database, no clock. The service (lifecycle/service.py) asks this module whether a move is legal
before it writes anything, so a refused action never leaves a trace except its audit entry.

    draft -validate-> validated -submit-> pending_approval -approve-> approved -issue-> issued -post-> posted
    draft -validate (open findings)-> held -validate (resolved) / override-> validated
    draft, validated -hold-> held;  pending_approval -reject-> held
    posted -pay_partially-> partially_paid -pay-> paid;  posted -pay-> paid
    every status before paid -void (reason required)-> void

Issued documents are never edited: after issue a mistake is corrected by a credit note or a new invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from invoiceflow.errors import Problem, ValidationError

DRAFT, VALIDATED, HELD = "draft", "validated", "held"
PENDING_APPROVAL, APPROVED, ISSUED = "pending_approval", "approved", "issued"
POSTED, PARTIALLY_PAID, PAID, VOID = "posted", "partially_paid", "paid", "void"
STATUSES = (DRAFT, VALIDATED, HELD, PENDING_APPROVAL, APPROVED, ISSUED, POSTED, PARTIALLY_PAID, PAID, VOID)
BEFORE_PAID = (DRAFT, VALIDATED, HELD, PENDING_APPROVAL, APPROVED, ISSUED, POSTED, PARTIALLY_PAID)


@dataclass(frozen=True, slots=True)
class Move:
    """One legal transition: `action` takes a document from `source` to `target`."""

    action: str
    source: str
    target: str


TABLE: tuple[Move, ...] = (
    Move("validate", DRAFT, VALIDATED),
    Move("validate", DRAFT, HELD),  # open findings
    Move("validate", HELD, VALIDATED),  # findings resolved
    Move("hold", DRAFT, HELD),
    Move("hold", VALIDATED, HELD),
    Move("override", HELD, VALIDATED),
    Move("submit", VALIDATED, PENDING_APPROVAL),
    Move("reject", PENDING_APPROVAL, HELD),
    Move("approve", PENDING_APPROVAL, APPROVED),
    Move("issue", APPROVED, ISSUED),
    Move("post", ISSUED, POSTED),
    Move("pay_partially", POSTED, PARTIALLY_PAID),
    Move("pay", POSTED, PAID),
    Move("pay", PARTIALLY_PAID, PAID),
    *(Move("void", status, VOID) for status in BEFORE_PAID),
)
LEGAL: frozenset[tuple[str, str]] = frozenset((m.source, m.target) for m in TABLE)
ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(m.action for m in TABLE))

# Statuses in which an action's effect already holds: repeating the action there changes nothing.
ALREADY_DONE: dict[str, frozenset[str]] = {
    "validate": frozenset({VALIDATED}),
    "hold": frozenset({HELD}),
    "override": frozenset({VALIDATED}),
    "submit": frozenset({PENDING_APPROVAL}),
    "reject": frozenset({HELD}),
    "approve": frozenset({APPROVED}),
    "issue": frozenset({ISSUED, POSTED, PARTIALLY_PAID, PAID}),
    "post": frozenset({POSTED, PARTIALLY_PAID, PAID}),
    "pay_partially": frozenset({PARTIALLY_PAID}),
    "pay": frozenset({PAID}),
    "void": frozenset({VOID}),
}
# Decisions a person must explain.
REASON_REQUIRED = frozenset({"hold", "override", "reject", "void"})
# Actions that make the actor a preparer of the document (with creating or last changing it): a preparer
# may not approve it. Modules that edit documents add their action here.
MAKER_ACTIONS: dict[str, str] = {"submit": "submitted it", "override": "overrode its findings"}
FOUR_EYES = frozenset({"approve"})


class TransitionRefused(ValidationError):
    """A lifecycle action the rules do not allow; nothing was changed (the refusal is audited)."""

    rule = "refused"

    def __init__(self, message: str, *, record: str = ""):
        super().__init__(Problem(record, "", message))


class IllegalTransition(TransitionRefused):
    """The action is not legal from the document's current status."""

    rule = "illegal_transition"


class ReasonRequired(TransitionRefused):
    """The action needs a reason and none was given."""

    rule = "reason_required"


class SegregationOfDuties(TransitionRefused):
    """The actor prepared the document and so may not approve it."""

    rule = "segregation_of_duties"


class RoleRefused(TransitionRefused):
    """The actor lacks the role the action (or the approval level) needs."""

    rule = "role"


class PolicyRefused(TransitionRefused):
    """A pluggable policy (approval matrix, gates) refused the action."""

    rule = "policy"


def allowed_actions(status: str) -> list[str]:
    """The actions legal from `status`, in table order."""
    return list(dict.fromkeys(m.action for m in TABLE if m.source == status))


def target_for(action: str, current: str, *, findings: bool = False, record: str = "") -> str:
    """The status `action` leads to from `current`; validate leads to held when there are open findings.

    Returns `current` itself when re-validating a held document that still has findings (nothing to do).
    """
    if action not in ACTIONS:
        raise IllegalTransition(f"unknown action {action!r} (known: {', '.join(ACTIONS)})", record=record)
    targets = [m.target for m in TABLE if m.action == action and m.source == current]
    if not targets:
        raise IllegalTransition(_not_from(action, current), record=record)
    if action == "validate":
        return HELD if findings else VALIDATED
    return targets[0]


def check_transition(current: str, target: str, *, action: str | None = None, reason: str | None = None,
                     record: str = "") -> None:
    """Raise unless `current -> target` is legal (by `action`, when given) and carries a required reason."""
    if current not in STATUSES or target not in STATUSES:
        unknown = current if current not in STATUSES else target
        raise IllegalTransition(f"unknown status {unknown!r}", record=record)
    if (current, target) not in LEGAL:
        raise IllegalTransition(f"{_a(current)} invoice cannot become {target}", record=record)
    if action is not None and Move(action, current, target) not in TABLE:
        raise IllegalTransition(_not_from(action, current), record=record)
    step = action or next(m.action for m in TABLE if (m.source, m.target) == (current, target))
    if step in REASON_REQUIRED and not (reason or "").strip():
        raise ReasonRequired(f"{step} needs a reason (--reason)", record=record)


def check_duties(action: str, actor: str, makers: Iterable[tuple[str, str]], *, record: str = "") -> None:
    """Refuse a four-eyes action by anyone who prepared the document.

    `makers` pairs each preparer with what they did, e.g. ("alice", "created it"), for the message.
    """
    if action not in FOUR_EYES:
        return
    did = list(dict.fromkeys(what for who, what in makers if who == actor))
    if did:
        raise SegregationOfDuties(
            f"{actor} cannot {action} this invoice: {actor} {' and '.join(did)} (segregation of duties)",
            record=record,
        )


def _not_from(action: str, current: str) -> str:
    allowed = allowed_actions(current)
    hint = f"allowed: {', '.join(allowed)}" if allowed else "no action is allowed any more"
    return f"cannot {action} {_a(current)} invoice ({hint})"


def _a(status: str) -> str:
    words = status.replace("_", " ")
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"
