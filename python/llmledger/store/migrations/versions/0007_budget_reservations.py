"""Reservations of block budgets' spend by calls in flight (`Budget(reserve=True)`,
`llmledger.store.reservations`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MYSQL_TABLE: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "llmledger_budget_reservations",
        sa.Column("period", sa.String(8), primary_key=True),
        sa.Column("start_us", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("scope_key", sa.String(64), primary_key=True),
        # The call's event_id: its row's insert releases it (the writer deletes by it).
        sa.Column("event_id", sa.String(32), primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
        **MYSQL_TABLE,
    )
    op.create_index(
        "ix_llmledger_budget_reservations_event_id",
        "llmledger_budget_reservations",
        ["event_id"],
    )


def downgrade() -> None:
    op.drop_table("llmledger_budget_reservations")
