"""The hash-chained, append-only audit log and its verifier."""

from invoiceflow.audit.log import GENESIS, AuditEntry, append_entry, canonical_json, entry_hash, read_entries
from invoiceflow.audit.verify import ChainProblem, VerifyReport, diagnose, verify_all, verify_audit_log

__all__ = [
    "GENESIS", "AuditEntry", "ChainProblem", "VerifyReport", "append_entry", "canonical_json", "diagnose",
    "entry_hash", "read_entries", "verify_all", "verify_audit_log",
]
