"""The ledger's storage: tables, migrations, the background writer and the reader.

`make_engine` + `ensure_schema` (or `upgrade`, what ``llmledger db upgrade`` runs) prepare a
database; `Writer` records rows without blocking the app; `save_snapshot` keeps each price
catalog snapshot once; `llmledger.store.read.read_calls` reads the ledger into Polars (kept
out of this package's import so recording never loads the analytics stack).
"""

from .engine import SchemaNotReadyError, ensure_schema, make_engine, upgrade
from .snapshots import load_snapshot, save_snapshot
from .writer import Writer

__all__ = [
    "SchemaNotReadyError",
    "Writer",
    "ensure_schema",
    "load_snapshot",
    "make_engine",
    "save_snapshot",
    "upgrade",
]
