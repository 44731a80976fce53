"""A JSON column that is written from JSON text as it is.

The provider's usage object reaches the writer as the JSON text it arrived in (the parser
keeps it so). Decoding it only for SQLAlchemy's JSON type to encode it again would cost the
writer thread a round trip per call and could reorder or reformat it. This type stores a
`str` as the JSON text it is, and serialises any other value (rows spooled before raw usage
was kept as text hold it as an object) as the JSON type would. The column's DDL is the JSON
type's (JSONB on PostgreSQL), so the schema and its migrations are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["JsonText", "as_json_text"]


def as_json_text(value: Any) -> str:
    """JSON text for a column value: a `str` is JSON text already; anything else is encoded
    (None as JSON `null`, as SQLAlchemy's JSON type stores it)."""
    return value if isinstance(value, str) else json.dumps(value)


class JsonText(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) written from JSON text as is; read back decoded."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(
            postgresql.JSONB() if dialect.name == "postgresql" else JSON()
        )

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str]:
        # The text goes to the driver as a string: PostgreSQL casts it (`::JSONB`), MySQL and
        # MariaDB parse it into their JSON column, SQLite stores it.
        return as_json_text
