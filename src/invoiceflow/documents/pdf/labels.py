"""The words printed on a PDF invoice, in English, German and French.

A table in code rather than gettext catalogues: the vocabulary is small, fixed by invoicing law rather than
by the UI, and reviewed as a whole per language. The VAT notes are the legal mentions the VAT Directive
(2006/112/EC, Art. 226) asks for when an invoice carries no VAT, worded as tax offices expect to read them.
"""

from __future__ import annotations

LANGUAGES = ("en", "de", "fr")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice", "credit_note": "Credit note", "number": "Invoice number",
        "credit_note_number": "Credit note number", "issue_date": "Issue date", "due_date": "Due date",
        "service_period": "Service period", "delivery_date": "Delivery date", "buyer_reference": "Buyer reference",
        "purchase_order": "Purchase order", "corrects": "Corrects invoice {number} of {date}.",
        "corrects_undated": "Corrects invoice {number}.", "seller": "Seller", "buyer": "Bill to",
        "deliver_to": "Deliver to", "vat_id": "VAT ID", "tax_number": "Tax number", "registration": "Registration",
        "electronic_address": "E-invoice address", "contact": "Contact", "phone": "Phone", "email": "E-mail",
        "position": "#", "description": "Description", "quantity": "Quantity", "unit_price": "Unit price",
        "vat": "VAT", "amount": "Amount", "per": "per", "period": "Period", "item_id": "Item no.",
        "allowance": "Allowance", "charge": "Charge", "document_adjustments": "Allowances and charges",
        "line_total": "Sum of lines", "allowance_total": "Allowances", "charge_total": "Charges",
        "tax_exclusive": "Total net", "tax_total": "Total VAT", "tax_inclusive": "Total incl. VAT",
        "prepaid": "Paid in advance", "rounding": "Rounding", "payable": "Amount due",
        "payable_credit": "Amount credited", "vat_breakdown": "VAT breakdown", "category": "Category",
        "rate": "Rate", "taxable_amount": "Taxable amount", "tax_amount": "VAT amount", "vat_notes": "VAT notes",
        "reason": "Reason", "notes": "Notes", "payment": "Payment", "payment_terms": "Payment terms",
        "payment_means": "Payment means", "account_holder": "Account holder", "iban": "IBAN",
        "account": "Account", "bic": "BIC", "remittance": "Reference", "page": "Page", "of": "of",
        "credit_transfer": "Credit transfer", "sepa_credit_transfer": "SEPA credit transfer",
    },
    "de": {
        "invoice": "Rechnung", "credit_note": "Rechnungskorrektur", "number": "Rechnungsnummer",
        "credit_note_number": "Korrekturnummer", "issue_date": "Rechnungsdatum", "due_date": "Fällig am",
        "service_period": "Leistungszeitraum", "delivery_date": "Lieferdatum", "buyer_reference": "Käuferreferenz",
        "purchase_order": "Bestellnummer", "corrects": "Korrektur zur Rechnung {number} vom {date}.",
        "corrects_undated": "Korrektur zur Rechnung {number}.", "seller": "Verkäufer", "buyer": "Rechnungsempfänger",
        "deliver_to": "Lieferanschrift", "vat_id": "USt-IdNr.", "tax_number": "Steuernummer",
        "registration": "Register", "electronic_address": "E-Rechnungsadresse", "contact": "Ansprechpartner",
        "phone": "Telefon", "email": "E-Mail", "position": "Pos.", "description": "Bezeichnung", "quantity": "Menge",
        "unit_price": "Einzelpreis", "vat": "USt.", "amount": "Betrag", "per": "je", "period": "Zeitraum",
        "item_id": "Art.-Nr.", "allowance": "Nachlass", "charge": "Zuschlag",
        "document_adjustments": "Nachlässe und Zuschläge", "line_total": "Summe der Positionen",
        "allowance_total": "Nachlässe", "charge_total": "Zuschläge", "tax_exclusive": "Nettobetrag",
        "tax_total": "Umsatzsteuer", "tax_inclusive": "Bruttobetrag", "prepaid": "Bereits gezahlt",
        "rounding": "Rundung", "payable": "Zahlbetrag", "payable_credit": "Erstattungsbetrag",
        "vat_breakdown": "Aufschlüsselung der Umsatzsteuer", "category": "Kategorie", "rate": "Satz",
        "taxable_amount": "Bemessungsgrundlage", "tax_amount": "Steuerbetrag", "vat_notes": "Hinweise zur Umsatzsteuer",
        "reason": "Grund", "notes": "Bemerkungen", "payment": "Zahlung", "payment_terms": "Zahlungsbedingungen",
        "payment_means": "Zahlungsart", "account_holder": "Kontoinhaber", "iban": "IBAN", "account": "Konto",
        "bic": "BIC", "remittance": "Verwendungszweck", "page": "Seite", "of": "von",
        "credit_transfer": "Überweisung", "sepa_credit_transfer": "SEPA-Überweisung",
    },
    "fr": {
        "invoice": "Facture", "credit_note": "Avoir", "number": "Numéro de facture",
        "credit_note_number": "Numéro d’avoir", "issue_date": "Date d’émission", "due_date": "Date d’échéance",
        "service_period": "Période de prestation", "delivery_date": "Date de livraison",
        "buyer_reference": "Référence acheteur", "purchase_order": "Bon de commande",
        "corrects": "Avoir relatif à la facture {number} du {date}.", "corrects_undated": "Avoir relatif à la facture {number}.",
        "seller": "Vendeur", "buyer": "Facturé à", "deliver_to": "Livrer à", "vat_id": "N° TVA",
        "tax_number": "N° fiscal", "registration": "Immatriculation", "electronic_address": "Adresse de facturation électronique",
        "contact": "Contact", "phone": "Téléphone", "email": "Courriel", "position": "N°", "description": "Désignation",
        "quantity": "Quantité", "unit_price": "Prix unitaire", "vat": "TVA", "amount": "Montant", "per": "par",
        "period": "Période", "item_id": "Réf.", "allowance": "Remise", "charge": "Frais",
        "document_adjustments": "Remises et frais", "line_total": "Total des lignes", "allowance_total": "Remises",
        "charge_total": "Frais", "tax_exclusive": "Total HT", "tax_total": "Total TVA", "tax_inclusive": "Total TTC",
        "prepaid": "Acompte versé", "rounding": "Arrondi", "payable": "Net à payer", "payable_credit": "Montant crédité",
        "vat_breakdown": "Détail de la TVA", "category": "Catégorie", "rate": "Taux", "taxable_amount": "Base HT",
        "tax_amount": "Montant TVA", "vat_notes": "Mentions relatives à la TVA", "reason": "Motif", "notes": "Remarques",
        "payment": "Paiement", "payment_terms": "Conditions de paiement", "payment_means": "Moyen de paiement",
        "account_holder": "Titulaire du compte", "iban": "IBAN", "account": "Compte", "bic": "BIC",
        "remittance": "Référence de paiement", "page": "Page", "of": "sur",
        "credit_transfer": "Virement", "sepa_credit_transfer": "Virement SEPA",
    },
}

#: VAT category names (UNTDID 5305 subset of EN 16931).
CATEGORIES: dict[str, dict[str, str]] = {
    "en": {"S": "Standard rate", "Z": "Zero rated", "E": "Exempt", "AE": "Reverse charge",
           "K": "Intra-community supply", "G": "Export outside the EU", "O": "Not subject to VAT"},
    "de": {"S": "Regelsteuersatz", "Z": "Nullsatz", "E": "Steuerbefreit", "AE": "Reverse Charge",
           "K": "Innergemeinschaftliche Lieferung", "G": "Ausfuhr", "O": "Nicht steuerbar"},
    "fr": {"S": "Taux normal", "Z": "Taux zéro", "E": "Exonéré", "AE": "Autoliquidation",
           "K": "Livraison intracommunautaire", "G": "Exportation hors UE", "O": "Hors champ de la TVA"},
}

#: The legal mention printed once per VAT category that carries no VAT.
VAT_NOTES: dict[str, dict[str, str]] = {
    "en": {
        "AE": "Reverse charge: the recipient is liable for the VAT (Article 196 of Directive 2006/112/EC).",
        "K": "VAT-exempt intra-community supply (Article 138 of Directive 2006/112/EC).",
        "G": "VAT-exempt export outside the EU (Article 146 of Directive 2006/112/EC).",
        "E": "Exempt from VAT.",
        "O": "Not subject to VAT.",
    },
    "de": {
        "AE": "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge, Art. 196 MwStSystRL).",
        "K": "Steuerfreie innergemeinschaftliche Lieferung (Art. 138 MwStSystRL).",
        "G": "Steuerfreie Ausfuhrlieferung (Art. 146 MwStSystRL).",
        "E": "Steuerbefreite Leistung.",
        "O": "Nicht steuerbarer Umsatz.",
    },
    "fr": {
        "AE": "Autoliquidation : la TVA est due par le preneur (article 196 de la directive 2006/112/CE).",
        "K": "Exonération de TVA, livraison intracommunautaire (article 138 de la directive 2006/112/CE).",
        "G": "Exonération de TVA, exportation hors UE (article 146 de la directive 2006/112/CE).",
        "E": "Exonéré de TVA.",
        "O": "Opération hors du champ d’application de la TVA.",
    },
}

#: Short names of the common UN/ECE Recommendation 20 unit codes; other codes are printed as they are.
UNITS: dict[str, dict[str, str]] = {
    "en": {"C62": "pcs", "H87": "pcs", "HUR": "h", "MIN": "min", "DAY": "days", "WEE": "weeks", "MON": "months",
           "ANN": "years", "KGM": "kg", "MTR": "m", "LTR": "l", "KWH": "kWh"},
    "de": {"C62": "Stk.", "H87": "Stk.", "HUR": "Std.", "MIN": "Min.", "DAY": "Tage", "WEE": "Wochen", "MON": "Monate",
           "ANN": "Jahre", "KGM": "kg", "MTR": "m", "LTR": "l", "KWH": "kWh"},
    "fr": {"C62": "pce", "H87": "pce", "HUR": "h", "MIN": "min", "DAY": "jours", "WEE": "semaines", "MON": "mois",
           "ANN": "ans", "KGM": "kg", "MTR": "m", "LTR": "l", "KWH": "kWh"},
}


def unit_name(code: str, language: str) -> str:
    """Printable unit for a Rec. 20 code; an unknown code is printed as given rather than guessed."""
    return UNITS[language].get(code, code)
