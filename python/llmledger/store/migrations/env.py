"""Alembic environment for the ledger's migrations, run only through `llmledger.store.engine`.

The caller hands over an open connection (`config.attributes["connection"]`); there is no
alembic.ini and no logging setup, so the host application's logging stays as it is.
"""

from alembic import context
from llmledger.store.engine import VERSION_TABLE
from llmledger.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # Autogenerate (for new revisions) compares only the ledger's tables, never the host's.
    include_name=lambda name, type_, _parent: type_ != "table" or name.startswith("llmledger_"),
)
with context.begin_transaction():
    context.run_migrations()
