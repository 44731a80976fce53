"""Spend totals per period and scope, kept as rows are written (`llmledger.store.totals`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Written out in full (like 0001 and 0002) rather than built from `llmledger.store.totals`.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MYSQL_TABLE: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "llmledger_spend_totals",
        sa.Column("period", sa.String(8), primary_key=True),
        sa.Column("start_us", sa.BigInteger, primary_key=True, autoincrement=False),
        # sha256 of the scope's canonical JSON: tag values are unbounded text.
        sa.Column("scope_key", sa.String(64), primary_key=True),
        sa.Column("end_us", sa.BigInteger, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("provider", sa.String(64)),
        sa.Column("model", sa.String(255)),
        sa.Column("calls", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("unpriced_calls", sa.BigInteger, nullable=False),
        **MYSQL_TABLE,
    )
    op.create_table(
        "llmledger_totals_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        **MYSQL_TABLE,
    )


def downgrade() -> None:
    op.drop_table("llmledger_totals_state")
    op.drop_table("llmledger_spend_totals")
