"""Plain-text exports of the built-in ledger, each checked by its own tool in the test suite.

`render_beancount` and `render_hledger` are pure (entries + account metadata in, text out);
`export_ledger` reads a tenant's entries from the database and renders them. See docs/erp.md.
"""

from invoiceflow.ledger.exports.beancount import render_beancount
from invoiceflow.ledger.exports.hledger import render_hledger
from invoiceflow.ledger.exports.naming import AccountInfo, account_name
from invoiceflow.ledger.exports.source import FORMATS, export_ledger, load_for_export

__all__ = ["FORMATS", "AccountInfo", "account_name", "export_ledger", "load_for_export", "render_beancount",
           "render_hledger"]
