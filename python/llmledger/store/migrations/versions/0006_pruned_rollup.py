"""Pruning the ledger: the sums of pruned calls by day and group, and the prune horizon.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

`llmledger_pruned_rollup` has the columns of `llmledger_daily_rollup` (0002): the nightly job
rolls a day up as its pruned sums plus the calls still in the ledger. Written out in full
rather than built from `llmledger.store.derived`.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
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
DOUBLE = sa.Float(precision=53).with_variant(sa.Double(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "llmledger_pruned_rollup",
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
        "llmledger_prune_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("before_us", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        **MYSQL_TABLE,
    )


def downgrade() -> None:
    op.drop_table("llmledger_prune_state")
    op.drop_table("llmledger_pruned_rollup")
