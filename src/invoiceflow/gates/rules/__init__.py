"""One validation rule per module; each is pure: `check(invoice_facts, settings) -> list[Finding]`."""
