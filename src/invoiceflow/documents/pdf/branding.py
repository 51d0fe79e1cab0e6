"""How one legal entity's invoices look: accent colour, logo and footer line.

Branding is presentation only; it never changes what the invoice says. Each legal entity keeps its own
(for example a JSON file next to its catalog entry) and passes it to `render_pdf`. The logo is embedded in
the PDF as a data URI, so rendering fetches nothing and the PDF/A file carries everything it shows.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoiceflow.errors import Problem, ValidationError

DEFAULT_ACCENT = "#1f3a5f"
MAX_LOGO_BYTES = 2 * 1024 * 1024
_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_FIELDS = ("accent_color", "logo", "footer_text")


def _media_type(data: bytes) -> str | None:
    """Media type from the file's first bytes: PNG, JPEG or SVG, the formats a PDF/A page can show."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    head = data[:1024].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "image/svg+xml"
    return None


@dataclass(frozen=True, slots=True)
class Branding:
    """Accent colour (#rgb or #rrggbb), logo (PNG/JPEG/SVG as bytes or a file path) and a footer line."""

    accent_color: str = DEFAULT_ACCENT
    logo: bytes | str | os.PathLike[str] | None = None
    footer_text: str | None = None

    def __post_init__(self) -> None:
        # The colour goes into a stylesheet: only a plain hex colour may, nothing that could end the rule.
        if not isinstance(self.accent_color, str) or not _HEX_COLOUR.match(self.accent_color):
            raise ValidationError(f"accent colour {self.accent_color!r} is not a hex colour like #1f3a5f", field="accent_color")

    def logo_bytes(self) -> bytes | None:
        if self.logo is None or isinstance(self.logo, bytes):
            return self.logo
        path = Path(self.logo)
        try:
            return path.read_bytes()
        except OSError as error:
            raise ValidationError(f"cannot read logo {path}: {error.strerror or error}", field="logo") from None

    def logo_data_uri(self) -> str | None:
        """The logo as a data URI; a file that is too large or not PNG/JPEG/SVG is refused, not dropped."""
        data = self.logo_bytes()
        if data is None:
            return None
        if len(data) > MAX_LOGO_BYTES:
            raise ValidationError(f"logo is {len(data)} bytes; at most {MAX_LOGO_BYTES} are embedded", field="logo")
        media_type = _media_type(data)
        if media_type is None:
            raise ValidationError("logo is not a PNG, JPEG or SVG image", field="logo")
        return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: str | os.PathLike[str] | None = None) -> Branding:
        """From `{"accent_color", "logo", "footer_text"}`; a relative logo path is taken from `base_dir`."""
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ValidationError([Problem("branding", key, f"unknown field; expected one of {', '.join(_FIELDS)}") for key in unknown])
        for key in _FIELDS:
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValidationError(f"must be a string, not {type(data[key]).__name__}", record="branding", field=key)
        logo = data.get("logo")
        if logo and base_dir is not None:
            logo = str(Path(base_dir) / logo)
        return cls(accent_color=data.get("accent_color") or DEFAULT_ACCENT, logo=logo, footer_text=data.get("footer_text"))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Branding:
        """Read a branding JSON file; the logo path inside it is relative to the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ValidationError(f"cannot read branding file {path}: {error.strerror or error}", field="branding") from None
        except json.JSONDecodeError as error:
            raise ValidationError(f"branding file {path} is not valid JSON: {error}", field="branding") from None
        if not isinstance(data, dict):
            raise ValidationError(f"branding file {path} must hold a JSON object", field="branding")
        return cls.from_dict(data, path.parent)
