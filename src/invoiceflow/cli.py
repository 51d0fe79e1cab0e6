"""The `invoiceflow` command line (Typer + Rich)."""

from __future__ import annotations

import typer

from invoiceflow.commands import (
    api,
    audit,
    billing,
    catalog,
    delivery,
    demo,
    effects,
    einvoice,
    ingest,
    invoice,
    ledger,
    policy,
    rate,
    review,
    revrec,
)

app = typer.Typer(
    name="invoiceflow",
    help="Order-to-cash engine: contracts, usage and time into correct invoices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (catalog, ingest, rate, billing, invoice, review, policy, audit, einvoice, revrec, demo, ledger, effects,
               delivery, api):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
