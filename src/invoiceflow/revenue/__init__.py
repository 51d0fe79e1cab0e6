"""Revenue recognition over the stored billing data: schedules per invoice line, recognition entries posted
through the ledger, period close, and the deferred revenue waterfall.

    report = recognize_through(engine, "default", "2026-10", clock=clock)   # schedules + journal entries
    close_period(engine, "default", "acme-us", "2026-09", "controller", clock=clock)
    fall = waterfall(engine, "default", start="2026-09", months=6)

The arithmetic is revrec's (revrec/stored.py, pure); this package loads, stores and posts. See
docs/revenue-recognition.md, "Stored schedules".
"""

from invoiceflow.revenue.close import CloseReport, close_period
from invoiceflow.revenue.posting import RecognitionReport, recognize_through
from invoiceflow.revenue.waterfall_report import Waterfall, WaterfallRow, waterfall

__all__ = ["CloseReport", "RecognitionReport", "Waterfall", "WaterfallRow", "close_period", "recognize_through",
           "waterfall"]
