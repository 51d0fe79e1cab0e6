"""invoiceflow: an order-to-cash engine."""

__version__ = "0.1.0"
