"""The REST API (FastAPI): `create_app(engine)`; served by `invoiceflow serve`. See docs/api.md."""

from invoiceflow.api.app import create_app
from invoiceflow.api.context import ApiSettings

__all__ = ["ApiSettings", "create_app"]
