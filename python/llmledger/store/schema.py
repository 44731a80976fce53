"""The ledger's tables, SQLAlchemy 2 Core, portable across SQLite, PostgreSQL and MySQL/MariaDB.

Money columns are BIGINT pico-USD (1e-12 USD): exact, and every call fits (about 9.2 million
USD at most). Times are BIGINT microseconds since the Unix epoch, UTC: one portable type that
sorts, compares and bulk-reads fast on all three databases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects import mysql, postgresql

from .._core import BUCKETS
from .json_text import JsonText

__all__ = ["BUCKETS", "COST_COLUMNS", "LEDGER_COLUMNS", "calls", "metadata", "price_snapshots"]

# BUCKETS: the disjoint token buckets, in canonical order, as the Rust core defines them
# (parser, pricing and kernels all index them), re-exported here beside the columns.

COST_COLUMNS = (*("cost_" + b.removesuffix("_tokens") for b in BUCKETS), "cost_request")
"""Per-bucket cost columns, then the per-request fee; `cost` is their sum."""

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_Id = BigInteger().with_variant(Integer(), "sqlite")
_Json = JSON().with_variant(postgresql.JSONB(), "postgresql")
_Blob = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
# utf8mb4_bin: every Unicode value stores on MySQL/MariaDB, and comparisons (model names, tag
# filters) are exact as on PostgreSQL and SQLite rather than case- or accent-insensitive.
_MYSQL_TABLE: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

calls = Table(
    "llmledger_calls",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("at_us", BigInteger, nullable=False),
    Column("provider", String(64), nullable=False),
    Column("model", String(255), nullable=False),
    *(Column(b, BigInteger, nullable=False, default=0) for b in BUCKETS),
    Column("cost", BigInteger),
    *(Column(c, BigInteger) for c in COST_COLUMNS),
    Column("pricing_mode", String(32), nullable=False, default="standard"),
    Column("usage_source", String(16), nullable=False),
    Column("status", String(16), nullable=False, default="ok"),
    Column("http_status", Integer),
    # Double precision everywhere: on MySQL/MariaDB `Float` is single precision (0003).
    Column("latency_ms", Float(precision=53).with_variant(Double(), "mysql", "mariadb")),
    Column("provider_response_id", String(255)),
    # The price rule: which snapshot, which entry (catalog or override), which dated version,
    # which mode variant and which tier produced `cost`. NULL together when unpriced.
    Column("price_snapshot_id", String(64)),
    Column("price_source", String(16)),
    Column("price_provider", String(64)),
    Column("price_model", String(255)),
    Column("price_version", String(64)),
    Column("price_variant", String(32)),
    Column("price_tier", BigInteger),
    Column("tags", _Json, nullable=False),
    # The provider's usage object, written from the JSON text it arrived in.
    Column("raw_usage", JsonText()),
    Index("ix_llmledger_calls_at_us", "at_us"),
    Index("ix_llmledger_calls_provider_model", "provider", "model"),
    **_MYSQL_TABLE,
)

LEDGER_COLUMNS = frozenset(calls.c.keys()) - {"tags", "raw_usage"}
"""Columns of `llmledger_calls` that reads select and filter on by name; any other name is a
tag (a key of the JSON `tags`)."""

price_snapshots = Table(
    "llmledger_price_snapshots",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at_us", BigInteger, nullable=False),
    Column("source", String(255), nullable=False),
    # zlib-compressed canonical JSON of the compiled catalog, overrides included.
    Column("content", _Blob, nullable=False),
    **_MYSQL_TABLE,
)
