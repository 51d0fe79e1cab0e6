"""Human-readable invoices: PDF/A-3b from HTML/CSS templates, labelled in English, German or French.

`render_pdf(invoice, locale="de", branding=Branding(...))` gives the PDF bytes. Numbers, amounts and dates
follow the locale (babel); the labels follow its language. The same document, with the CII XML embedded,
is a Factur-X invoice (see documents/facturx.py).
"""

from invoiceflow.documents.pdf.branding import Branding
from invoiceflow.documents.pdf.labels import LANGUAGES
from invoiceflow.documents.pdf.writer import PDF_VARIANT, invoice_html, render_pdf

__all__ = ["LANGUAGES", "PDF_VARIANT", "Branding", "invoice_html", "render_pdf"]
