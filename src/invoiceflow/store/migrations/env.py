"""Alembic environment: migrations run on the engine handed in by invoiceflow.store.db (or a URL)."""

from alembic import context

from invoiceflow.store.db import make_engine
from invoiceflow.store import review_tables  # noqa: F401 - registers its tables on the metadata
from invoiceflow.store import ledger_tables  # noqa: F401 - registers its tables on the metadata
from invoiceflow.store import effects_tables  # noqa: F401 - registers its tables on the metadata
from invoiceflow.store import document_tables  # noqa: F401 - registers its tables on the metadata
from invoiceflow.store import api_tables  # noqa: F401 - registers its tables on the metadata
from invoiceflow.store import revrec_tables  # noqa: F401 - registers its tables on the metadata
from invoiceflow.store import webhook_tables  # noqa: F401 - registers its tables on the metadata
from invoiceflow.store.tables import metadata

config = context.config
engine = config.attributes.get("engine") or make_engine(config.get_main_option("sqlalchemy.url") or None)

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
