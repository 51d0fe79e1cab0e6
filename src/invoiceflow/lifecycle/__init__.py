"""Governed release of invoices: the state machine, gapless numbering and the service that applies both."""

from invoiceflow.lifecycle.history import invoice_history
from invoiceflow.lifecycle.numbering import DocumentNumber, assign_number, format_number, series_for
from invoiceflow.lifecycle.service import (
    Gate,
    Policy,
    TransitionResult,
    approve_invoice,
    hold_invoice,
    issue_invoice,
    override_invoice,
    reject_invoice,
    submit_invoice,
    transition,
    validate_invoice,
    void_invoice,
)
from invoiceflow.lifecycle.states import (
    IllegalTransition,
    PolicyRefused,
    ReasonRequired,
    SegregationOfDuties,
    TransitionRefused,
    check_duties,
    check_transition,
)

__all__ = [
    "DocumentNumber", "Gate", "IllegalTransition", "Policy", "PolicyRefused", "ReasonRequired",
    "SegregationOfDuties", "TransitionRefused", "TransitionResult", "approve_invoice", "assign_number",
    "check_duties", "check_transition", "format_number", "hold_invoice", "invoice_history", "issue_invoice",
    "override_invoice", "reject_invoice", "series_for", "submit_invoice", "transition", "validate_invoice",
    "void_invoice",
]
