"""Connectors to external ERPs: one module per ERP behind the one `ErpConnector` interface.

Each connector posts a `JournalEntry` idempotently, with our `entry_key` as the ERP document's external
reference, looks the key up before every post (reconcile before retry), and raises the effects runner's
`Transient` or `Permanent` so a failed delivery is retried or dead-lettered. See docs/erp.md.
"""

from invoiceflow.ledger.connectors.base import ErpConnector, ErpEntry, ErpLine, ExternalRef
from invoiceflow.ledger.connectors.tryton import TrytonConnector

__all__ = ["ErpConnector", "ErpEntry", "ErpLine", "ExternalRef", "TrytonConnector"]
