"""Assembling the documents of one billing point from terms, usage and what was billed before (pure).

Order of work on an invoice, each step rounding once per line: arrears fees and usage of the period that
just ended, commitment true-ups, advance fees of the period that starts, then discounts, then prepaid credit.
Credits for unused advance time go on a separate credit note that references the invoice that billed them,
each at most what remains of the invoice line that billed the days (billing/crediting.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Mapping, Sequence

from invoiceflow.billing.crediting import Creditable, cap_note, cap_unused_days
from invoiceflow.billing.drafts import CHARGE_TYPES, CREDIT_NOTE, INVOICE, DocumentDraft, LineDraft
from invoiceflow.billing.fees import BilledDays, Key, fee_lines, owed_days, settle_advance
from invoiceflow.billing.schedule import PointWork
from invoiceflow.billing.terms import DiscountTerms, SubscriptionTerms, VersionTerms
from invoiceflow.billing.usage import usage_lines
from invoiceflow.rating.adjustments import apply_discount, draw_down_credits

ZERO = Decimal(0)


@dataclass(slots=True)
class PointDocuments:
    invoice: DocumentDraft | None
    credit_note: DocumentDraft | None
    credit_used: Decimal


def assemble_point(
    sub: SubscriptionTerms,
    work: PointWork,
    billed: BilledDays,
    lower: date,
    aggregates: Mapping[tuple, Sequence[Any]],
    transactions: Mapping[tuple, Sequence[Decimal]],
    credit_balance: Decimal,
    creditable: dict[int, Creditable] | None = None,
) -> PointDocuments:
    """Documents for `work.point`; updates `billed` in memory so later points of the same run see them.

    `creditable`: what remains of each earlier invoice line, by line id; credits of unused days are capped
    by it and it is updated in place, like `billed`.
    """
    invoice = _document(sub, INVOICE, work.point)
    credit_note = _document(sub, CREDIT_NOTE, work.point)
    if work.arrears is not None:
        arrears = owed_days(sub, "arrears", work.arrears.start, work.arrears.end, served=[work.arrears])
        invoice.lines += [line for _, line in fee_lines(sub, arrears, "fee_arrears")]
        invoice.lines += usage_lines(sub, work.arrears, aggregates, transactions)
    charges, credits = settle_advance(sub, billed, lower, work.advance_horizon or work.point)
    kept = capped_credits(credits, billed, {} if creditable is None else creditable, work.point, sub.currency)
    invoice.lines += [line for _, line in charges]
    credit_note.lines += [line for _, line in kept]
    for key, line in charges:
        billed.add(key, line.service_start, line.service_end)
    if kept:
        first_key, first = kept[0]
        credit_note.corrects_invoice_id = billed.invoice_of.get((first_key, first.service_start.toordinal()))
    for key, line in credits:  # settled even when nothing was left to credit: the days are no longer owed
        billed.remove(key, line.service_start, line.service_end)
    invoice.lines += discount_lines(sub, invoice.lines)
    used = ZERO
    if invoice.lines and credit_balance > 0:
        used = draw_down_credits(invoice.total, credit_balance)
        if used > 0:
            invoice.lines.append(LineDraft(
                line_type="prepaid_credit", description="Prepaid credit applied", amount=-used, precise_amount=-used,
                trace={"balance_before": str(credit_balance), "balance_after": str(credit_balance - used)},
            ))
    return PointDocuments(invoice if invoice.lines else None, credit_note if credit_note.lines else None, used)


def capped_credits(credits: list[tuple[Key, LineDraft]], billed: BilledDays, creditable: dict[int, Creditable],
                   point: date, currency: str) -> list[tuple[Key, LineDraft]]:
    """Each credit of unused days at most what remains of the invoice line that billed its days, after earlier
    credit notes (finance's too); a credit with nothing left to give back is left out. Lines billed earlier in
    the same run are not in `creditable` yet: nothing was credited against them."""
    kept = []
    for key, line in credits:
        source_id = billed.line_of.get((key, line.service_start.toordinal()))
        source = creditable.get(source_id) if source_id is not None else None
        if source is None:
            kept.append((key, line))
            continue
        amount = cap_unused_days(line.amount, source)
        creditable[source_id] = source.after(amount, f"the bill run's credit note of {point.isoformat()}")
        if amount == line.amount:
            kept.append((key, line))
        elif amount > 0:
            kept.append((key, _capped(line, source, amount, currency)))
    return kept


def _capped(line: LineDraft, source: Creditable, amount: Decimal, currency: str) -> LineDraft:
    """The credit line for `amount` instead of the unused days' worth, saying why on the line and in its trace."""
    cap = {"unused_days_amount": str(line.amount), "invoice_line_id": source.line.id, "line_net": str(source.net),
           "credited_before": str(source.credited), "credited_by": list(source.credited_by)}
    return replace(line, amount=amount, precise_amount=amount,
                   description=f"{line.description}; {cap_note(source, currency)}",
                   trace={**(line.trace or {}), "capped": cap})


def _document(sub: SubscriptionTerms, document_type: str, point: date) -> DocumentDraft:
    return DocumentDraft(
        document_type=document_type, subscription_id=sub.id, customer_id=sub.customer_id,
        contract_id=sub.contract_id, legal_entity_id=sub.legal_entity_id, currency=sub.currency, billing_date=point,
    )


def discount_lines(sub: SubscriptionTerms, lines: list[LineDraft]) -> list[LineDraft]:
    """One negative line per discount, on the charges of its contract version within the discount's periods."""
    result = []
    versions = {v.id: v for v in sub.versions}
    charged_versions = sorted({l.contract_version_id for l in lines if l.line_type in CHARGE_TYPES
                               and l.contract_version_id is not None})
    for version_id in charged_versions:
        version = versions[version_id]
        for terms in version.discounts:
            until = _discount_until(sub, version, terms)
            eligible = [
                l for l in lines
                if l.line_type in CHARGE_TYPES and l.contract_version_id == version_id
                and (until is None or (l.service_start is not None and l.service_start < until))
            ]
            base = sum((l.amount for l in eligible), ZERO)
            amount = apply_discount(base, terms.discount, sub.currency)
            if amount <= 0:
                continue
            shown = f"{terms.discount.value}%" if terms.discount.kind == "percent" else f"{terms.discount.value} {sub.currency}"
            result.append(LineDraft(
                line_type="discount", description=f"Discount {terms.code} ({shown})", amount=-amount,
                precise_amount=-amount, contract_version_id=version.id, plan_version_id=version.plan_version_id,
                trace={**version.trace(), "discount": terms.code, "base": str(base), "duration": terms.duration,
                       "applies_before": until.isoformat() if until else None},
            ))
    return result


def _discount_until(sub: SubscriptionTerms, version: VersionTerms, terms: DiscountTerms) -> date | None:
    """End of the discount's last period, counted in billing periods from the version's first one."""
    count = terms.period_count
    if count is None:
        return None
    day = sub.nominal_period(max(version.effective_from, sub.start))[0]
    for _ in range(count):
        day = sub.nominal_period(day)[1]
    return day
