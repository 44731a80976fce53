"""Alembic environment for the ledger's migrations, run only through `llmledger.store.engine`.

The caller hands over an open connection, the ledger's metadata and its version table name
in `config.attributes`; there is no alembic.ini and no logging setup, so the host
application's logging stays as it is.
"""

from alembic import context

attributes = context.config.attributes


def ledger_only(name: str | None, type_: str, _parent: object) -> bool:
    """Autogenerate (for new revisions) compares only the ledger's tables, not the host's."""
    return type_ != "table" or (name or "").startswith("llmledger_")


context.configure(
    connection=attributes["connection"],
    target_metadata=attributes["target_metadata"],
    version_table=attributes["version_table"],
    include_name=ledger_only,
)
with context.begin_transaction():
    context.run_migrations()
