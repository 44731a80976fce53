"""The daily rollup summed over its tags: one row per UTC day, provider, model and pricing mode.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

`llmledger_daily_models` answers questions without tags from a few hundred rows a day. The
nightly job writes a day's rows from the day's `llmledger_daily_rollup` rows in the same
transaction; here, every day the daily rollup already holds is summed into it by one
INSERT ... SELECT, so the two agree from the upgrade on. Written out in full rather than
built from `llmledger.store.derived`.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
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
SUMMED = ("calls", "unpriced_calls", "backfilled_calls", *BUCKETS, "cost", "backfilled_cost")
MYSQL_TABLE: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
DOUBLE = sa.Float(precision=53).with_variant(sa.Double(), "mysql", "mariadb")
KEYS = ("day", "provider", "model", "pricing_mode")


def upgrade() -> None:
    op.create_table(
        "llmledger_daily_models",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(255), primary_key=True),
        sa.Column("pricing_mode", sa.String(32), primary_key=True),
        *(sa.Column(c, sa.BigInteger, nullable=False) for c in SUMMED),
        sa.Column("latency_ms_sum", DOUBLE, nullable=False),
        sa.Column("latency_calls", sa.BigInteger, nullable=False),
        sa.Column("latency_ms_max", DOUBLE),
        **MYSQL_TABLE,
    )
    sums = [f"SUM({c})" for c in (*SUMMED, "latency_ms_sum", "latency_calls")]
    names = ", ".join([*KEYS, *SUMMED, "latency_ms_sum", "latency_calls", "latency_ms_max"])
    keys = ", ".join(KEYS)
    op.execute(
        f"INSERT INTO llmledger_daily_models ({names}) "
        f"SELECT {keys}, {', '.join(sums)}, MAX(latency_ms_max) "
        f"FROM llmledger_daily_rollup GROUP BY {keys}"
    )


def downgrade() -> None:
    op.drop_table("llmledger_daily_models")
