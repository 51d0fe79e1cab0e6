"""Versioned release policies: gates, routing and SLAs, the approval matrix and override limits."""

from invoiceflow.policy.document import PolicyError, check_policy_text, read_policy
from invoiceflow.policy.model import ApprovalSubject, Level, Policy, Route
from invoiceflow.policy.store import AppliedPolicy, apply_policy, current_policy, policy_version

__all__ = ["AppliedPolicy", "ApprovalSubject", "Level", "Policy", "PolicyError", "Route", "apply_policy",
           "check_policy_text", "current_policy", "policy_version", "read_policy"]
