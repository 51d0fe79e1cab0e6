"""The double-entry ledger: journal entries for billing events, GL mapping per legal entity, trial balance.

Pure parts (`entries`, `accounts`, `posting_rules`) decide what is posted; ledgers (`Ledger`, with
`SqlLedger` the built-in one) decide where. See docs/ledger.md.
"""

from invoiceflow.ledger.accounts import ROLES, Account, Chart, MappingGap, MissingMapping
from invoiceflow.ledger.entries import JournalEntry, JournalLine, UnbalancedEntry
from invoiceflow.ledger.interface import AccountBalance, Ledger, Posted, TrialBalance
from invoiceflow.ledger.load import missing_mappings
from invoiceflow.ledger.posting_rules import (
    Document,
    DocumentLine,
    DocumentTax,
    issued_entry,
    mapping_gaps,
    payment_entry,
    void_entry,
)
from invoiceflow.ledger.reports import trial_balance
from invoiceflow.ledger.sql_ledger import SqlLedger, post_invoice, post_payment

__all__ = [
    "ROLES", "Account", "AccountBalance", "Chart", "Document", "DocumentLine", "DocumentTax", "JournalEntry",
    "JournalLine", "Ledger", "MappingGap", "MissingMapping", "Posted", "SqlLedger", "TrialBalance",
    "UnbalancedEntry", "issued_entry", "mapping_gaps", "missing_mappings", "payment_entry", "post_invoice",
    "post_payment", "trial_balance", "void_entry",
]
