"""The invoice state machine, table-driven: every (from, to) pair and every (action, status) pair."""

from __future__ import annotations

import itertools

import pytest

from invoiceflow.errors import ValidationError
from invoiceflow.lifecycle import states
from invoiceflow.lifecycle.numbering import format_number, series_for
from invoiceflow.lifecycle.states import (
    IllegalTransition,
    ReasonRequired,
    SegregationOfDuties,
    check_duties,
    check_transition,
    target_for,
)

D, V, H, PA, A, I, PO, PP, P, X = (
    "draft", "validated", "held", "pending_approval", "approved", "issued", "posted", "partially_paid", "paid",
    "void",
)
# The expected lifecycle, written out independently of the module: (action, from, to).
EXPECTED_MOVES = {
    ("validate", D, V), ("validate", D, H), ("validate", H, V),
    ("hold", D, H), ("hold", V, H), ("override", H, V),
    ("submit", V, PA), ("reject", PA, H), ("approve", PA, A),
    ("issue", A, I), ("post", I, PO), ("pay_partially", PO, PP), ("pay", PO, P), ("pay", PP, P),
    *(("void", s, X) for s in (D, V, H, PA, A, I, PO, PP)),
}
EXPECTED = {(s, t) for _, s, t in EXPECTED_MOVES}
ALL_PAIRS = list(itertools.product(states.STATUSES, repeat=2))
NEEDS_REASON = {"hold", "override", "reject", "void"}


def test_the_statuses_are_the_ten_of_the_lifecycle():
    assert set(states.STATUSES) == {D, V, H, PA, A, I, PO, PP, P, X}


@pytest.mark.parametrize(("source", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_pair_is_legal_exactly_when_the_lifecycle_says_so(source, target):
    if (source, target) in EXPECTED:
        check_transition(source, target, reason="because")
        for action in {a for a, s, t in EXPECTED_MOVES if (s, t) == (source, target)}:
            check_transition(source, target, action=action, reason="because")
    else:
        with pytest.raises(IllegalTransition, match=f"{source.replace('_', ' ')} invoice cannot become {target}"):
            check_transition(source, target, reason="because")


@pytest.mark.parametrize(("action", "source"), list(itertools.product(states.ACTIONS, states.STATUSES)))
def test_every_action_from_every_status(action, source):
    targets = {t for a, s, t in EXPECTED_MOVES if (a, s) == (action, source)}
    if not targets:
        with pytest.raises(IllegalTransition, match=f"cannot {action} an? "):
            target_for(action, source)
    elif action == "validate":
        assert target_for(action, source, findings=False) == V
        assert target_for(action, source, findings=True) == H
    else:
        assert {target_for(action, source)} == targets


def test_the_module_table_is_exactly_the_expected_lifecycle():
    assert {(m.action, m.source, m.target) for m in states.TABLE} == EXPECTED_MOVES
    assert states.LEGAL == EXPECTED


def test_a_matching_pair_by_the_wrong_action_is_refused():
    with pytest.raises(IllegalTransition, match=r"cannot approve an approved invoice \(allowed: issue, void\)"):
        check_transition(A, I, action="approve")
    with pytest.raises(IllegalTransition, match=r"cannot approve a void invoice \(no action is allowed any more\)"):
        target_for("approve", X)


@pytest.mark.parametrize("action", sorted(NEEDS_REASON))
def test_decisions_need_a_reason(action):
    move = next(m for m in states.TABLE if m.action == action)
    for reason in (None, "", "   "):
        with pytest.raises(ReasonRequired, match=f"{action} needs a reason"):
            check_transition(move.source, move.target, action=action, reason=reason)
    check_transition(move.source, move.target, action=action, reason="customer asked")


def test_routine_actions_need_no_reason():
    for move in states.TABLE:
        if move.action not in NEEDS_REASON:
            check_transition(move.source, move.target, action=move.action)


def test_refusals_are_validation_errors_naming_the_invoice():
    with pytest.raises(ValidationError) as caught:
        target_for("issue", D, record="invoice 7")
    assert str(caught.value) == "invoice 7: cannot issue a draft invoice (allowed: validate, hold, void)"
    assert caught.value.rule == "illegal_transition"


def test_unknown_actions_and_statuses_are_refused():
    with pytest.raises(IllegalTransition, match="unknown action 'ship'"):
        target_for("ship", D)
    with pytest.raises(IllegalTransition, match="unknown status 'lost'"):
        check_transition("lost", V)


def test_a_preparer_may_not_approve():
    makers = [("system", "created it"), ("alice", "submitted it"), ("carol", "overrode its findings")]
    for who in ("system", "alice", "carol"):
        with pytest.raises(SegregationOfDuties, match=f"{who} cannot approve this invoice: {who} "):
            check_duties("approve", who, makers)
    check_duties("approve", "bob", makers)
    check_duties("issue", "alice", makers)  # four eyes apply to approval only


def test_segregation_message_lists_everything_the_actor_did():
    with pytest.raises(SegregationOfDuties, match="alice created it and submitted it"):
        check_duties("approve", "alice", [("alice", "created it"), ("alice", "submitted it")])


def test_repeating_an_action_whose_effect_holds_is_a_no_op_status():
    assert states.ALREADY_DONE["issue"] == {I, PO, PP, P}
    assert X not in states.ALREADY_DONE["issue"]  # a voided invoice is never issued again
    assert set(states.ALREADY_DONE) == set(states.ACTIONS)
    for action, done in states.ALREADY_DONE.items():
        assert done <= set(states.STATUSES), action


def test_allowed_actions():
    assert states.allowed_actions(D) == ["validate", "hold", "void"]
    assert states.allowed_actions(P) == []
    assert states.allowed_actions(X) == []


def test_numbers_are_per_series_and_year_zero_padded():
    assert format_number("INV", 2026, 123) == "INV-2026-000123"
    assert format_number("CN", 2027, 1_234_567) == "CN-2027-1234567"
    assert (series_for("invoice"), series_for("credit_note")) == ("INV", "CN")
    with pytest.raises(ValueError, match="no number series"):
        series_for("quote")
