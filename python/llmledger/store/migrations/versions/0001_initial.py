"""The ledger's first tables: calls and price snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written out in full rather than built from `schema.metadata`, so this revision keeps
creating exactly what it created on the day it shipped while the schema module moves on.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BUCKETS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)
COST_COLUMNS = (*("cost_" + b.removesuffix("_tokens") for b in BUCKETS), "cost_request")

# utf8mb4_bin on MySQL/MariaDB: every Unicode tag value stores, and comparisons (model names,
# tag filters) are exact as on PostgreSQL and SQLite, not case- or accent-insensitive.
MYSQL_TABLE = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BLOB = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "llmledger_calls",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        *(sa.Column(b, sa.BigInteger, nullable=False) for b in BUCKETS),
        sa.Column("cost", sa.BigInteger),
        *(sa.Column(c, sa.BigInteger) for c in COST_COLUMNS),
        sa.Column("pricing_mode", sa.String(32), nullable=False),
        sa.Column("usage_source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("latency_ms", sa.Float),
        sa.Column("provider_response_id", sa.String(255)),
        sa.Column("price_snapshot_id", sa.String(64)),
        sa.Column("price_source", sa.String(16)),
        sa.Column("price_provider", sa.String(64)),
        sa.Column("price_model", sa.String(255)),
        sa.Column("price_version", sa.String(64)),
        sa.Column("price_variant", sa.String(32)),
        sa.Column("price_tier", sa.BigInteger),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("raw_usage", JSON),
        sa.UniqueConstraint("event_id", name="uq_llmledger_calls_event_id"),
        **MYSQL_TABLE,
    )
    op.create_index("ix_llmledger_calls_at_us", "llmledger_calls", ["at_us"])
    op.create_index("ix_llmledger_calls_provider_model", "llmledger_calls", ["provider", "model"])
    op.create_table(
        "llmledger_price_snapshots",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("content", BLOB, nullable=False),
        **MYSQL_TABLE,
    )


def downgrade() -> None:
    op.drop_table("llmledger_price_snapshots")
    op.drop_index("ix_llmledger_calls_provider_model", table_name="llmledger_calls")
    op.drop_index("ix_llmledger_calls_at_us", table_name="llmledger_calls")
    op.drop_table("llmledger_calls")
