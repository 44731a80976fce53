"""Where a ledger's archive lives, and telling an archive's URI from a database URL.

The default sits beside a SQLite file (`<database file>.archive/`); `LLMLEDGER_ARCHIVE_URI`
(or `llmledger reaggregate --archive`) names any location delta-rs writes to: a local path,
`s3://`, `gs://`, `az://`/`abfss://`... with the storage options delta-rs itself reads from the
environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `GOOGLE_APPLICATION_CREDENTIALS`...). A
server database with no location configured keeps no archive: there is no obvious place.

A string names an archive, not a database, when its scheme is one of `ARCHIVE_SCHEMES` or it
has no scheme at all (a path). Database URLs always carry a dialect scheme (`sqlite://`,
`postgresql+psycopg://`, `mysql+pymysql://`), none of which is an object store's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

__all__ = ["ARCHIVE_SCHEMES", "ENV_VARIABLE", "archive_location", "is_archive"]

ENV_VARIABLE = "LLMLEDGER_ARCHIVE_URI"

ARCHIVE_SCHEMES = frozenset(
    {"file", "s3", "s3a", "gs", "gcs", "az", "azure", "abfs", "abfss", "adl", "memory", "lakefs"}
)
"""URI schemes of the object stores delta-rs reads and writes."""


def is_archive(source: Any) -> bool:
    """Whether `source` names a Delta table (a path, or a URI of an object store) rather than
    a database (an Engine, a URL, or a string with a database dialect's scheme)."""
    if isinstance(source, os.PathLike):
        return True
    if not isinstance(source, str):
        return False
    scheme, found, _ = source.partition("://")
    return not found or scheme.lower() in ARCHIVE_SCHEMES


def archive_location(database: Engine | URL | str, uri: str | None = None) -> str | None:
    """The archive's URI for `database`: `uri` if given, else `LLMLEDGER_ARCHIVE_URI`, else
    `<database file>.archive` beside a SQLite file; None for a server or in-memory database
    with no location configured (it keeps no archive)."""
    uri = uri or os.environ.get(ENV_VARIABLE) or None
    if uri is not None:
        return uri
    url = database.url if isinstance(database, Engine) else make_url(database)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database).resolve()
    return str(path.with_name(f"{path.name}.archive"))
