"""Validation gates: pure rules that say why an invoice must not be released yet (see docs/workflow.md)."""

from invoiceflow.gates.model import BLOCK, CASE_TYPES, OFF, WARN, Finding, InvoiceFacts
from invoiceflow.gates.registry import CASES_OF, GATES, run_gates

__all__ = ["BLOCK", "CASES_OF", "CASE_TYPES", "Finding", "GATES", "InvoiceFacts", "OFF", "WARN", "run_gates"]
