"""Daily rollups, the reaggregate job's watermark, and backfilled costs of unpriced calls.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Written out in full (like 0001) rather than built from `llmledger.store.derived`.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
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
MYSQL_TABLE: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# Latency sums: double precision everywhere (MySQL's FLOAT is single precision).
DOUBLE = sa.Float(precision=53).with_variant(sa.Double(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "llmledger_daily_rollup",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("group_key", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("pricing_mode", sa.String(32), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("calls", sa.BigInteger, nullable=False),
        sa.Column("unpriced_calls", sa.BigInteger, nullable=False),
        sa.Column("backfilled_calls", sa.BigInteger, nullable=False),
        *(sa.Column(b, sa.BigInteger, nullable=False) for b in BUCKETS),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("backfilled_cost", sa.BigInteger, nullable=False),
        sa.Column("latency_ms_sum", DOUBLE, nullable=False),
        sa.Column("latency_calls", sa.BigInteger, nullable=False),
        sa.Column("latency_ms_max", DOUBLE),
        **MYSQL_TABLE,
    )
    op.create_table(
        "llmledger_reaggregate_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("watermark_id", sa.BigInteger, nullable=False),
        sa.Column("tag_keys", JSON, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        **MYSQL_TABLE,
    )
    op.create_table(
        "llmledger_backfill",
        sa.Column("call_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("price_snapshot_id", sa.String(64), nullable=False),
        sa.Column("price_source", sa.String(16), nullable=False),
        sa.Column("price_provider", sa.String(64), nullable=False),
        sa.Column("price_model", sa.String(255), nullable=False),
        sa.Column("price_version", sa.String(64), nullable=False),
        sa.Column("price_variant", sa.String(32)),
        sa.Column("price_tier", sa.BigInteger),
        sa.Column("backfilled_at_us", sa.BigInteger, nullable=False),
        **MYSQL_TABLE,
    )


def downgrade() -> None:
    op.drop_table("llmledger_backfill")
    op.drop_table("llmledger_reaggregate_state")
    op.drop_table("llmledger_daily_rollup")
