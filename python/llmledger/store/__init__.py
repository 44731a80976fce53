"""The ledger's storage: tables, migrations, the background writer and the reader.

`make_engine` + `ensure_schema` (or `upgrade`, what ``llmledger db upgrade`` runs) prepare a
database; `Writer` records rows without blocking the app; `save_snapshot` keeps each price
catalog snapshot once; `llmledger.store.read.read_calls` reads the ledger into Polars (kept
out of this package's import so recording never loads the analytics stack). `TotalsSpec`
names the spend totals a `Writer` keeps as it writes; `read_totals` reads them for a budget's
preflight and `rebuild_totals` recomputes them from the ledger.
"""

from .engine import SchemaNotReadyError, ensure_schema, make_engine, upgrade
from .snapshots import load_snapshot, save_snapshot
from .totals import Scope, Total, TotalsSpec
from .totals_sql import read_totals, rebuild_totals
from .writer import Writer

__all__ = [
    "SchemaNotReadyError",
    "Scope",
    "Total",
    "TotalsSpec",
    "Writer",
    "ensure_schema",
    "load_snapshot",
    "make_engine",
    "read_totals",
    "rebuild_totals",
    "save_snapshot",
    "upgrade",
]
