"""Alembic environment for the ledger's migrations, run only through `llmledger.store.engine`.

The caller hands over an open connection, the ledger's metadata and its version table name
in `config.attributes`; there is no alembic.ini and no logging setup, so the host
application's logging stays as it is.
"""

from alembic import context

attributes = context.config.attributes
context.configure(
    connection=attributes["connection"],
    target_metadata=attributes["target_metadata"],
    version_table=attributes["version_table"],
    # Autogenerate (for new revisions) compares only the ledger's tables, never the host's.
    include_name=lambda name, type_, _parent: type_ != "table" or name.startswith("llmledger_"),
)
with context.begin_transaction():
    context.run_migrations()
