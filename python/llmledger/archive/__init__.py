"""The ledger's archive: every call of the closed UTC days in a Delta Lake table.

    llmledger reaggregate                    # the nightly job writes it (see `write`)
    llmledger.rollup("s3://bucket/ledger-archive", by=["model"], bucket="day")

Partitioned by UTC day (a `day` column), one row per call with the ledger's columns, the
backfill's cost (`backfilled_cost`, apart from the recorded `cost`) and each tag as a column
`tags.<key>`; its watermark lives in the table (`state`), so it answers with no database.
Being a standard Delta table, Polars (`scan_delta`), DuckDB, Spark or Daft read it as it is.
"""

from __future__ import annotations

from .location import ARCHIVE_SCHEMES, ENV_VARIABLE, archive_location, is_archive
from .read import read_archive
from .state import ArchiveState, archive_state
from .write import ARCHIVE_COLUMNS, ArchiveRun, archive_closed_days

__all__ = [
    "ARCHIVE_COLUMNS",
    "ARCHIVE_SCHEMES",
    "ENV_VARIABLE",
    "ArchiveRun",
    "ArchiveState",
    "archive_closed_days",
    "archive_location",
    "archive_state",
    "is_archive",
    "read_archive",
]
