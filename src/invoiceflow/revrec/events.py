"""Events after inception: credit notes, refunds, voids, write-offs, upgrades, downgrades and modifications.

Events are applied in date order (input order on the same date). Each one changes only what is still to be
recognized, plus an explicit catch-up on its own date for what already was, so periods before the event keep
the revenue they showed. Every event is recorded with what it did, for the output and for audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import round_amount
from invoiceflow.rating.periods import prorate
from invoiceflow.revrec.allocation import Allocation, allocate, largest_remainder, to_units
from invoiceflow.revrec.billing import Bill
from invoiceflow.revrec.model import (
    Billing, Event, Modification, Pattern, PriceChange, Reduction, Treatment, event_label,
)
from invoiceflow.revrec.obligations import MAIN, Book, Obligation, add_obligations, allocation_items
from invoiceflow.revrec.schedule import change

ZERO = Decimal(0)


def apply_events(book: Book, events: Sequence[Event]) -> Book:
    """Apply `events` to `book` in date order; problems are collected on the book, not raised."""
    for event in sorted(events, key=lambda e: (e.day, e.index)):
        try:
            if isinstance(event, Reduction):
                _reduce(book, event)
            elif isinstance(event, PriceChange):
                _reprice(book, event)
            else:
                _modify(book, event)
        except ValidationError as error:  # a modification whose new lines cannot be allocated
            book.problems.extend(error.problems)
    return book


def _record(event: Event) -> str:
    return f"{event_label(event)} ({event.type})"


def _credits(book: Book, event: Reduction) -> dict[str, Decimal] | None:
    """How much of each invoice line the event takes back, or None after recording why it cannot."""
    record, invoice = _record(event), event.invoice
    on_invoice = [b for b in book.bills if b.invoice == invoice]
    if not any(b.kind == "invoice" for b in on_invoice):
        book.problems.append(Problem(record, "invoice", f"there is no invoice dated {invoice}"))
        return None
    if invoice > event.day:
        message = f"invoice {invoice} is dated after the {event.type} ({event.day})"
        book.problems.append(Problem(record, "invoice", message))
        return None
    still_open: dict[str, Decimal] = {}
    for bill in on_invoice:
        still_open[bill.line] = still_open.get(bill.line, ZERO) + bill.amount
    positive = {line: amount for line, amount in still_open.items() if amount > 0}
    if event.lines is not None:
        credits: dict[str, Decimal] = {}
        problems = []
        for j, (line, amount) in enumerate(event.lines):
            taken = credits.get(line, ZERO) + amount
            if line not in still_open:
                problems.append(Problem(record, f"lines[{j}].line", f"line {line!r} is not on invoice {invoice}"))
            elif taken > still_open[line]:
                message = (f"{taken} is more than the {still_open[line]} still open for line {line!r} "
                           f"on invoice {invoice}")
                problems.append(Problem(record, f"lines[{j}].amount", message))
            credits[line] = taken
        book.problems.extend(problems)
        return None if problems else credits
    total_open = sum(positive.values(), ZERO)
    amount = total_open if event.amount is None else event.amount
    if amount > total_open or total_open == 0:
        book.problems.append(Problem(record, "amount" if event.amount is not None else "invoice",
                                     f"{amount} is more than the {total_open} still open on invoice {invoice}"
                                     if amount > total_open else f"nothing is left open on invoice {invoice}"))
        return None
    # No lines given: taken from the invoice's lines in proportion to what is open on each.
    return dict(zip(positive, largest_remainder(amount, list(positive.values()), book.currency)))


def _reduce(book: Book, event: Reduction) -> None:
    """Less consideration: contra-revenue for the share already recognized, the rest off deferred revenue.

    A credited line's own obligation takes the reduction. When the credit is more than that obligation is
    worth (a bundle billed on one line), the excess is a change of the transaction price that reduces the
    other obligations of its allocation group in proportion to their values (ASC 606-10-32-43).
    """
    credits = _credits(book, event)
    if credits is None:
        return
    label = event_label(event)
    cuts: dict[str, Decimal] = {}
    excess: dict[str, Decimal] = {}
    for line, amount in credits.items():
        ob = book.obligations[line]
        own = min(amount, max(ob.schedule.value - cuts.get(line, ZERO), ZERO))
        cuts[line] = cuts.get(line, ZERO) + own
        excess[ob.group] = excess.get(ob.group, ZERO) + amount - own
    for group, amount in excess.items():
        if not amount:
            continue
        members = [ob for ob in book.in_group(group) if ob.schedule.value - cuts.get(ob.line.id, ZERO) > 0]
        room = [ob.schedule.value - cuts.get(ob.line.id, ZERO) for ob in members]
        if amount > sum(room, ZERO):
            book.problems.append(Problem(_record(event), "amount",
                                         f"the credit is {amount} more than the obligations have left to recognize"))
            return
        parts = largest_remainder(amount, [to_units(r, book.currency) for r in room], book.currency)
        for ob, part in zip(members, parts):
            cuts[ob.line.id] = cuts.get(ob.line.id, ZERO) + part
    book.bills.extend(
        Bill(event.day, line, -amount, event.invoice, event.type, label) for line, amount in credits.items() if amount
    )
    revenue = []
    for line, part in cuts.items():
        if not part:
            continue
        ob = book.obligations[line]
        ob.schedule, posted = change(ob.schedule, event.day, -part, book.currency, catch_up=True, source=label)
        revenue.append({"line": line, "reduction": part, "contra_revenue": -posted, "deferred_cleared": part + posted})
    book.events.append({
        "index": event.index, "type": event.type, "date": event.day, "invoice": event.invoice,
        "billing": [{"line": line, "amount": amount} for line, amount in credits.items()], "revenue": revenue,
    })


def _reprice(book: Book, event: PriceChange) -> None:
    """An upgrade or downgrade: proration lines credit the old price and charge the new one for the days left.

    Each proration line is an obligation of its own, recognized over its own service period (the change date
    to the end of the line) and billed on the change date (at the end when the line is billed in arrears).
    """
    record, ob = _record(event), book.obligations.get(event.line)
    problem = _reprice_problem(ob, event)
    if problem:
        book.problems.append(Problem(record, *problem))
        return
    line = ob.line
    total, left = (line.end - line.start).days, (line.end - event.day).days
    credit = round_amount(prorate(ob.price, left, total), book.currency)
    charge = round_amount(prorate(event.price, left, total), book.currency)
    new = [
        replace(line, id=f"{line.id}~e{event.index}-{suffix}", price=amount, ssp=None, residual=False, start=event.day,
                billing=Billing(line.billing.timing), record=record)
        for suffix, amount in (("credit", -credit), ("charge", charge))
    ]
    add_obligations(book, new, [], "", ob.contract, own_method="proration")
    book.events.append({
        "index": event.index, "type": event.type, "date": event.day, "line": line.id,
        "from_price": ob.price, "to_price": event.price, "days_left": left, "days_total": total,
        "proration_lines": [{"line": n.id, "amount": n.price} for n in new],
    })
    ob.price = event.price


def _reprice_problem(ob: Obligation | None, event: PriceChange) -> tuple[str, str] | None:
    if ob is None:
        return "line", f"there is no line {event.line!r}"
    line = ob.line
    if line.pattern is not Pattern.ratable:
        return "line", f"line {line.id!r} is not recognized ratably: only ratable lines are upgraded or downgraded"
    if not line.start < event.day < line.end:
        return "date", f"{event.day} is not inside the service period of line {line.id!r} ({line.start} to {line.end})"
    if event.type == "upgrade" and event.price <= ob.price:
        return "price", f"an upgrade must raise the price above {ob.price}"
    if event.type == "downgrade" and event.price >= ob.price:
        return "price", f"a downgrade must lower the price below {ob.price}"
    return None


def _modify(book: Book, event: Modification) -> None:
    """Add lines as a separate contract, prospectively, or by cumulative catch-up (ASC 606-10-25-12/13)."""
    label, treatment, currency = event_label(event), event.treatment, book.currency
    items = allocation_items(event.add_lines)
    record = {"index": event.index, "type": event.type, "date": event.day, "treatment": treatment.value,
              "added_lines": [n.id for n in event.add_lines], "reallocation": []}
    if treatment is Treatment.separate_contract or not items:
        # A separate contract is allocated on its own; added usage alone is allocated its own amount.
        separate = treatment is Treatment.separate_contract
        allocations = allocate(items, currency) if items else []
        add_obligations(book, event.add_lines, allocations, label, label if separate else MAIN)
        book.events.append(record)
        return
    prospective = treatment is Treatment.prospective
    # Prospective: what is left of the old obligations plus the new price, over what is left to deliver.
    # Cumulative catch-up: the whole contract reallocated as if the new lines had always been in it.
    basis = {
        ob.line.id: ob.schedule.remaining(event.day) if prospective else ob.schedule.value for ob in book.in_group(MAIN)
    }
    members = [ob for ob in book.in_group(MAIN) if basis[ob.line.id] > 0]
    weights = [
        Fraction(ob.ssp) * (Fraction(basis[ob.line.id]) / Fraction(ob.schedule.value) if prospective else 1)
        for ob in members
    ] + [Fraction(item.ssp.effective(item.price)) for item in items]
    if sum(weights) == 0:
        book.problems.append(Problem(_record(event), "add_lines", "nothing to reallocate: the SSPs add up to zero"))
        return
    pool = sum((basis[ob.line.id] for ob in members), ZERO) + sum((item.price for item in items), ZERO)
    parts = largest_remainder(pool, weights, currency)
    reallocation = []
    for ob, part in zip(members, parts):
        before = basis[ob.line.id]
        ob.schedule, posted = change(
            ob.schedule, event.day, part - before, currency, catch_up=not prospective, source=label
        )
        reallocation.append({"line": ob.line.id, "before": before, "after": part, "catch_up": posted})
    whole = sum(weights)
    allocations = [
        Allocation(item.key, item.price, item.ssp.effective(item.price), w / whole, part,
                   item.ssp.effective(item.price) - part, treatment.value)
        for item, w, part in zip(items, weights[len(members):], parts[len(members):])
    ]
    add_obligations(book, event.add_lines, allocations, MAIN, MAIN)
    book.events.append({**record, "basis": "remaining" if prospective else "total", "reallocation": reallocation})
