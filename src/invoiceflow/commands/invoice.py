"""`invoiceflow invoice validate|hold|override|submit|reject|approve|issue|void|credit|history`.

Every command names its actor; refused and illegal actions exit with code 2 and change nothing (they are
recorded in the audit log as refused attempts). `credit` raises a draft credit note against an issued
invoice, which the release pass then takes through tax, gates and approvals like any draft; a refused
credit writes nothing at all.
"""

from __future__ import annotations

import json
import re

import typer
from rich.markup import escape
from rich.table import Table

from invoiceflow.bootstrap import open_engine
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, reported_errors
from invoiceflow.billing.queries import invoice_detail
from invoiceflow.documents.release_gate import einvoice_issue_policy
from invoiceflow.errors import ValidationError
from invoiceflow.lifecycle.credit_notes import CreditNoteResult, raise_credit_note
from invoiceflow.lifecycle.history import invoice_history
from invoiceflow.lifecycle.service import TransitionResult, transition
from invoiceflow.review.queries import invoice_findings
from invoiceflow.review.release import release
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

invoice_app = typer.Typer(help="Move invoices through their lifecycle (validate, approve, issue, void, credit).",
                          no_args_is_help=True)

InvoiceArg = typer.Argument(..., help="Invoice (or credit note) id.")
ActorOption = typer.Option(..., "--actor", "--as", envvar="INVOICEFLOW_ACTOR",
                           help="Who acts (a team member); recorded in the history and the audit log.")
ReasonOption = typer.Option(None, "--reason", help="Why (required for hold, override, reject and void).")
JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")


def register(app: typer.Typer) -> None:
    app.add_typer(invoice_app, name="invoice")


def _act(action: str, invoice_id: int, actor: str, reason: str | None, as_json: bool, database: str | None,
         tenant: str) -> None:
    with reported_errors():
        engine = open_engine(database)
        if action == "validate":
            _validate(engine, tenant, invoice_id, actor, as_json)
            return
        if action == "override":
            _refuse_override_of_case_findings(engine, tenant, invoice_id)
        # Issuing passes the e-invoice release gate: an invoice whose e-invoice fails the official rules
        # keeps its status and gets no number.
        policies = [einvoice_issue_policy] if action == "issue" else []
        result = transition(engine, tenant, invoice_id, action, actor=actor, reason=reason, policies=policies)
        if as_json:
            print(json.dumps({"invoice_id": result.invoice_id, "action": result.action, "from": result.from_status,
                              "status": result.status, "changed": result.changed, "number": result.number,
                              "findings": list(result.findings)}, indent=2))
            return
        console.print(_describe(result), highlight=False)
        for finding in result.findings:
            console.print(f"  [yellow]finding:[/yellow] {escape(finding)}", highlight=False)


def _validate(engine, tenant: str, invoice_id: int, actor: str, as_json: bool) -> None:
    """Validation through the gates of the current policy: findings are recorded and routed to cases."""
    release(engine, tenant, [invoice_id], actor=actor, advance_validated=False)
    found = [f for f in invoice_findings(engine, tenant, invoice_id) if f["status"] == "open"]
    status = invoice_detail(engine, invoice_id, tenant=tenant)["status"]
    if as_json:
        print(json.dumps({"invoice_id": invoice_id, "action": "validate", "status": status,
                          "findings": found}, indent=2, default=str))
        return
    console.print(f"invoice {invoice_id}: {status}", highlight=False)
    for f in found:
        case = f" (case {f['case_id']})" if f["case_id"] else ""
        console.print(f"  [yellow]{f['severity']}:[/yellow] {escape(f['code'])}: {escape(f['message'])}{case}",
                      highlight=False)


def _refuse_override_of_case_findings(engine, tenant: str, invoice_id: int) -> None:
    cases = sorted({f["case_id"] for f in invoice_findings(engine, tenant, invoice_id)
                    if f["status"] == "open" and f["case_id"]})
    if cases:
        raise ValidationError(f"invoice {invoice_id} is held by case(s) {', '.join(map(str, cases))}: override "
                              f"through the case (invoiceflow review resolve {cases[0]} --action override --reason "
                              "...), so the findings and the override limit are respected", record=f"invoice {invoice_id}")


def _describe(result: TransitionResult) -> str:
    number = f" as {result.number}" if result.number else ""
    if result.number and result.action != "issue":
        number = f" ({result.number})"
    if not result.changed:
        return f"invoice {result.invoice_id} is already {result.status}{number}; nothing changed"
    return f"invoice {result.invoice_id}: {result.from_status} -> {result.status}{number}"


ACTIONS = {
    "validate": "Run the policy's gates on a draft or held invoice: validated without blocking findings, held with them.",
    "hold": "Hold a draft or validated invoice (reason required).",
    "override": "Release a held invoice despite its findings (reason required; you may not approve it afterwards).",
    "submit": "Send a validated invoice for approval (you may not approve it yourself).",
    "reject": "Send an invoice pending approval back to held (reason required).",
    "approve": "Approve an invoice pending approval (not by whoever created, changed, submitted or overrode it).",
    "issue": "Issue an approved invoice and give it the next gapless number; repeating it prints the same number.",
    "void": "Void an invoice that is not paid (reason required); an issued invoice keeps its number.",
}


def _action_command(action: str):
    def command(invoice_id: int = InvoiceArg, actor: str = ActorOption, reason: str = ReasonOption,
                as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
        _act(action, invoice_id, actor, reason, as_json, database, tenant)

    command.__doc__ = ACTIONS[action]
    return command


for _action in ACTIONS:
    invoice_app.command(_action)(_action_command(_action))


LINE_SPEC = re.compile(r"^\s*(\d+)\s*(?:([=:])\s*(\S+)\s*)?$")


@invoice_app.command("credit")
def credit(invoice_id: int = InvoiceArg, actor: str = ActorOption,
           reason: str = typer.Option(None, "--reason", help="Why the invoice is credited (required)."),
           line: list[str] = typer.Option(None, "--line", metavar="LINE_ID[=QTY|:AMOUNT]",
                                          help="Credit one invoice line: all that remains of it, a quantity "
                                               "(17=2) or an amount (17:25.00). Repeat for more lines; "
                                               "without --line the whole invoice is credited."),
           reference: str = typer.Option(None, "--reference",
                                         help="Your reference for the request: repeating it returns the same "
                                              "credit note and writes nothing."),
           as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Raise a draft credit note against an issued invoice; `invoiceflow release` takes it through tax, gates and
    approvals (whoever raised it may not approve it)."""
    with reported_errors():
        lines = [_line_spec(spec) for spec in line] if line else None
        engine = open_engine(database)
        with engine.begin() as conn:
            result = raise_credit_note(conn, resolve_tenant(conn, tenant, create=False), invoice_id, actor=actor,
                                       reason=reason, lines=lines, reference=reference)
        note = invoice_detail(engine, result.credit_note_id, tenant=tenant)
        if as_json:
            print(json.dumps(_credit_json(result, note), indent=2, default=str))
            return
        _print_credit(result, note, reference)


def _line_spec(spec: str) -> dict[str, object]:
    """`17`, `17=2` (a quantity) or `17:25.00` (an amount) as a requested line."""
    found = LINE_SPEC.match(spec)
    if not found:
        raise ValidationError(f"{spec!r} is not LINE_ID, LINE_ID=QUANTITY or LINE_ID:AMOUNT (e.g. 17, 17=2, 17:25.00)",
                              field="--line")
    line_id, sign, value = found.groups()
    key = {"=": "quantity", ":": "amount"}.get(sign or "")
    return {"line_id": int(line_id), **({key: value} if key else {})}


def _credit_json(result: CreditNoteResult, note: dict) -> dict[str, object]:
    return {"credit_note_id": result.credit_note_id, "invoice_id": result.invoice_id, "created": result.created,
            "status": note["status"], "number": note["number"], "currency": note["currency"], "total": note["total"],
            "lines": [{key: line[key] for key in ("position", "credits_line_id", "description", "quantity", "amount")}
                      for line in note["lines"]]}


def _print_credit(result: CreditNoteResult, note: dict, reference: str | None) -> None:
    if not result.created:
        console.print(f"credit note {result.credit_note_id} was already raised for reference {reference!r} "
                      f"({note['status']}); nothing changed", highlight=False)
        return
    console.print(f"credit note {result.credit_note_id} raised against invoice {result.invoice_id}: "
                  f"{note['total']} {note['currency']} before tax, {note['status']}", highlight=False)
    table = Table("#", "credits line", "description", "quantity", "amount")
    for line in note["lines"]:
        table.add_row(str(line["position"]), str(line["credits_line_id"]), escape(line["description"]),
                      "" if line["quantity"] is None else str(line["quantity"]), str(line["amount"]))
    console.print(table)
    console.print("next: invoiceflow release (tax, gates and approvals; you may not approve it yourself)",
                  highlight=False)


@invoice_app.command("history")
def history(invoice_id: int = InvoiceArg, as_json: bool = JsonOption, database: str = DatabaseOption,
            tenant: str = TenantOption) -> None:
    """Every transition of an invoice (who, when, why) and every refused attempt on it."""
    with reported_errors():
        found = invoice_history(open_engine(database), invoice_id, tenant=tenant)
        if as_json:
            print(json.dumps(found, indent=2, default=str))
            return
        head = found["invoice"]
        number = f" {head['number']}" if head["number"] else ""
        console.print(f"[bold]{head['document_type']} {head['id']}{number}[/bold]  status {head['status']}  "
                      f"created by {head['created_by']}  approved by {head['approved_by'] or '-'}", highlight=False)
        table = Table("at (UTC)", "action", "from", "to", "actor", "reason")
        for t in found["transitions"]:
            extra = f" [{t['detail']['number']}]" if t["detail"].get("number") else ""
            table.add_row(t["at"], t["action"] + extra, t["from"], t["to"], t["actor"], escape(t["reason"] or ""))
        console.print(table)
        if found["refused"]:
            refused = Table("at (UTC)", "refused", "while", "actor", "why", title="Refused attempts")
            for r in found["refused"]:
                refused.add_row(r["at"], r["action"], r["status"], r["actor"], escape(r["error"]))
            console.print(refused)
