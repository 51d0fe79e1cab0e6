"""Validate an e-invoice in-process: XML Schema (lxml) and the official Schematron rules (Saxon XSLT 2.0).

The official rules ship as compiled XSLT stylesheets whose output is SVRL; every `svrl:failed-assert` is a
broken rule, flagged `fatal` or `warning`. Compiling a stylesheet takes about a second, running it takes
milliseconds, so each stylesheet and schema is compiled once per process and kept in a module-level cache.

The artifacts are data, not code: they are found at an explicit folder (argument, else the environment
variable INVOICEFLOW_EINVOICE_ARTIFACTS). There is no implicit default, because a validator that silently
picks up whatever folder happens to be nearby cannot be trusted to have checked anything.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from invoiceflow.documents.cii import RSM
from invoiceflow.documents.formats import PEPPOL_BIS3, XRECHNUNG_3
from invoiceflow.documents.ubl import CBC, NS_CREDIT_NOTE, NS_INVOICE
from invoiceflow.errors import ValidationError

ENV_VAR = "INVOICEFLOW_EINVOICE_ARTIFACTS"
SVRL = "http://purl.oclc.org/dsdl/svrl"

#: Files expected inside the artifacts folder, by role.
ARTIFACTS = {
    "ubl-invoice-xsd": "ubl-2.1-xsd/xsd/maindoc/UBL-Invoice-2.1.xsd",
    "ubl-creditnote-xsd": "ubl-2.1-xsd/xsd/maindoc/UBL-CreditNote-2.1.xsd",
    "cii-xsd": "en16931/cii/schema/D16B/uncefact/data/standard/CrossIndustryInvoice_100pD16B.xsd",
    "en16931-ubl": "en16931/ubl/xslt/EN16931-UBL-validation.xslt",
    "en16931-cii": "en16931/cii/xslt/EN16931-CII-validation.xslt",
    "peppol-ubl": "peppol/PEPPOL-EN16931-UBL.xslt",
}
_ROOTS = {
    f"{{{NS_INVOICE}}}Invoice": ("ubl", "ubl-invoice-xsd"),
    f"{{{NS_CREDIT_NOTE}}}CreditNote": ("ubl", "ubl-creditnote-xsd"),
    f"{{{RSM}}}CrossIndustryInvoice": ("cii", "cii-xsd"),
}
_RULE_PREFIX = re.compile(r"^\s*\[[^\]]+\]\s*-?\s*")

_lock = threading.Lock()
_processor: Any = None
_stylesheets: dict[Path, Any] = {}
_schemas: dict[Path, etree.XMLSchema] = {}
_compile_seconds: dict[str, float] = {}


class ArtifactsError(ValidationError):
    """The validation artifacts folder is not configured, or a file it must contain is missing."""


class DocumentError(ValidationError):
    """The input is not an e-invoice this validator knows (not XML, or not a UBL/CII invoice)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule: rule id (e.g. BR-CO-15, or XSD), fatal|warning, message, where, and which rule set."""

    rule: str
    severity: str
    message: str
    location: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.severity} {self.rule}: {self.message} (at {self.location})"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Outcome of validating one document: which rule sets ran and every finding, fatal ones first."""

    syntax: str
    customization_id: str
    rule_sets: tuple[str, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def fatal(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "fatal"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != "fatal"]

    @property
    def valid(self) -> bool:
        return not self.fatal

    def rules(self, severity: str | None = None) -> set[str]:
        return {f.rule for f in self.findings if severity is None or f.severity == severity}

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "syntax": self.syntax,
            "customization_id": self.customization_id,
            "rule_sets": list(self.rule_sets),
            "fatal": len(self.fatal),
            "warnings": len(self.warnings),
            "notes": list(self.notes),
            "findings": [f.as_dict() for f in self.findings],
        }


def resolve_artifacts(path: str | os.PathLike[str] | None = None) -> Path:
    """The artifacts folder: `path`, else $INVOICEFLOW_EINVOICE_ARTIFACTS; no implicit default."""
    chosen = path if path not in (None, "") else os.environ.get(ENV_VAR) or None
    if chosen is None:
        raise ArtifactsError(
            f"no e-invoice validation artifacts configured: pass --artifacts DIR or set {ENV_VAR} "
            "to the folder holding en16931/, peppol/ and ubl-2.1-xsd/", field="artifacts")
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        raise ArtifactsError(f"e-invoice validation artifacts folder {folder} does not exist", field="artifacts")
    return folder


def artifact(folder: Path, role: str) -> Path:
    """Path of one artifact; a clear error names the file expected when it is missing."""
    path = folder / ARTIFACTS[role]
    if not path.is_file():
        raise ArtifactsError(f"missing validation artifact {path} (expected {ARTIFACTS[role]} in {folder})", field="artifacts")
    return path.resolve()


def compiled_stylesheets() -> dict[str, float]:
    """Seconds spent compiling each cached stylesheet or schema in this process, by file name."""
    return dict(_compile_seconds)


def _schema(path: Path) -> etree.XMLSchema:
    with _lock:
        if path not in _schemas:
            started = time.perf_counter()
            _schemas[path] = etree.XMLSchema(etree.parse(str(path)))
            _compile_seconds[path.name] = time.perf_counter() - started
        return _schemas[path]


def _stylesheet(path: Path) -> Any:
    global _processor
    with _lock:
        if path not in _stylesheets:
            from saxonche import PySaxonProcessor

            started = time.perf_counter()
            if _processor is None:
                _processor = PySaxonProcessor(license=False)
            compiler = _processor.new_xslt30_processor()
            _stylesheets[path] = compiler.compile_stylesheet(stylesheet_text=path.read_text(encoding="utf-8"))
            _compile_seconds[path.name] = time.perf_counter() - started
        return _stylesheets[path]


def _run_rules(path: Path, text: str, source: str) -> list[Finding]:
    executable = _stylesheet(path)
    from saxonche import PySaxonApiError

    with _lock:  # one Saxon processor per process; its calls are serialised rather than trusted to be thread-safe
        try:
            node = _processor.parse_xml(xml_text=text)
            svrl = executable.transform_to_string(xdm_node=node)
        except PySaxonApiError as error:
            raise DocumentError(f"the {source} rules could not be applied to this document: {error}", field="document") from None
    report = etree.fromstring(svrl.encode("utf-8"))
    findings = []
    for element in report.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        message = " ".join("".join(element.itertext()).split())
        flag = (element.get("flag") or "fatal").lower()
        findings.append(Finding(
            rule=element.get("id") or element.get("test") or "unnamed",
            severity="fatal" if flag in ("fatal", "error") else "warning",
            message=_RULE_PREFIX.sub("", message),
            location=element.get("location") or "",
            source=source,
        ))
    return findings


def _parse(document: bytes | str) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    data = document.encode("utf-8") if isinstance(document, str) else document
    try:
        return etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as error:
        raise DocumentError(f"not well-formed XML: {error}", field="document") from None


def validate(document: bytes | str, artifacts: str | os.PathLike[str] | None = None, *, peppol: bool | None = None) -> ValidationReport:
    """Check `document` against the XSD and the EN 16931 rules of its syntax, plus Peppol rules for Peppol.

    `peppol=None` runs the Peppol rules when the document declares Peppol BIS Billing 3.0 (BT-24); True or
    False forces them on or off (they apply to UBL only).
    """
    folder = resolve_artifacts(artifacts)
    tree = _parse(document)
    root = tree.getroot()
    if root.tag not in _ROOTS:
        raise DocumentError(f"root element {root.tag} is not a UBL Invoice/CreditNote or a CII CrossIndustryInvoice", field="document")
    syntax, xsd_role = _ROOTS[root.tag]
    if syntax == "ubl":
        customization = root.findtext(f"{{{CBC}}}CustomizationID") or ""
    else:
        customization = root.findtext(".//{*}GuidelineSpecifiedDocumentContextParameter/{*}ID") or ""
    customization = customization.strip()
    run_peppol = syntax == "ubl" and (customization.startswith(PEPPOL_BIS3) if peppol is None else peppol)
    rules = [("en16931", artifact(folder, f"en16931-{syntax}"))]
    if run_peppol:
        rules.append(("peppol", artifact(folder, "peppol-ubl")))

    schema = _schema(artifact(folder, xsd_role))
    findings: list[Finding] = []
    if not schema.validate(tree):
        findings += [
            Finding("XSD", "fatal", error.message, f"line {error.line}" + (f" {error.path}" if error.path else ""), "xsd")
            for error in schema.error_log
        ]
    text = etree.tostring(tree, encoding="unicode")
    for source, path in rules:
        findings += _run_rules(path, text, source)
    notes = []
    if customization.startswith(XRECHNUNG_3):
        notes.append("XRechnung-specific (KoSIT) rules are not among the artifacts: checked against EN 16931 only")
    findings.sort(key=lambda f: f.severity != "fatal")
    return ValidationReport(syntax, customization, ("xsd",) + tuple(s for s, _ in rules), tuple(findings), tuple(notes))


def validate_file(path: str | os.PathLike[str], artifacts: str | os.PathLike[str] | None = None, *, peppol: bool | None = None) -> ValidationReport:
    """`validate` on a file's bytes; an unreadable file is bad input."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DocumentError(f"cannot read {path}: {error.strerror or error}", field="document") from None
    return validate(data, artifacts, peppol=peppol)
