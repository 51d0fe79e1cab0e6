"""Payload builders and small HTTP clients for commercial ERPs, one vendor per module.

Each module has a pure `build(entry, config) -> (method, path, body, headers)` following the vendor's
published API, and a connector with `post(entry)` and `lookup(entry_key)`, idempotent by our entry key,
that raises `Transient` or `Permanent` (invoiceflow.effects.errors). They are verified against local
stand-ins that enforce the documented shapes, not against the real systems: see docs/erp.md.
"""

from invoiceflow.ledger.vendors.dynamics_bc import BusinessCentralConfig, BusinessCentralConnector
from invoiceflow.ledger.vendors.netsuite import NetSuiteConfig, NetSuiteConnector
from invoiceflow.ledger.vendors.oracle_fusion import OracleConfig, OracleConnector
from invoiceflow.ledger.vendors.sap_s4hana import SapConfig, SapConnector

__all__ = ["BusinessCentralConfig", "BusinessCentralConnector", "NetSuiteConfig", "NetSuiteConnector",
           "OracleConfig", "OracleConnector", "SapConfig", "SapConnector"]
