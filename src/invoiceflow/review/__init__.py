"""Exception cases, role queues with SLAs, the release pass and release KPIs (see docs/workflow.md)."""

from invoiceflow.review.kpis import release_kpis
from invoiceflow.review.queries import case_detail, list_cases
from invoiceflow.review.release import ReleaseReport, release
from invoiceflow.review.resolve import CaseOutcome, CaseRefused, approve_override, assign_case, resolve_case

__all__ = ["CaseOutcome", "CaseRefused", "ReleaseReport", "approve_override", "assign_case", "case_detail",
           "list_cases", "release", "release_kpis", "resolve_case"]
