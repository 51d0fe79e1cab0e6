"""Revenue recognition (ASC 606 / IFRS 15): pure allocation and schedule math.

    contract = load_contract("contract.json")        # JSON Schema, then meaning checks
    result = recognize(contract)                     # allocation, schedules, events, journal lines, waterfall
    document = as_document(result)                   # the JSON shape `invoiceflow revrec schedule` prints

No module here reads the clock, touches a database or imports a CLI library (an import-linter contract
keeps it so). See docs/revenue-recognition.md.
"""

from invoiceflow.revrec.allocation import Allocation, Item, allocate, largest_remainder
from invoiceflow.revrec.contract_input import load_contract, parse_contract
from invoiceflow.revrec.engine import Recognition, recognize
from invoiceflow.revrec.report import as_document
from invoiceflow.revrec.schedule import recognition_periods, spread

__all__ = [
    "Allocation",
    "Item",
    "Recognition",
    "allocate",
    "as_document",
    "largest_remainder",
    "load_contract",
    "parse_contract",
    "recognition_periods",
    "recognize",
    "spread",
]
