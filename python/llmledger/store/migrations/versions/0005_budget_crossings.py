"""Budget thresholds crossed, one row each, so a notification fires once across processes
and restarts (`llmledger.budgets.notify`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MYSQL_TABLE: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "llmledger_budget_crossings",
        # sha256 of the budget's definition: a budget changed is another budget.
        sa.Column("budget_key", sa.String(64), primary_key=True),
        sa.Column("start_us", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("scope_key", sa.String(64), primary_key=True),
        sa.Column("share", sa.String(32), primary_key=True),
        sa.Column("spent", sa.BigInteger, nullable=False),
        sa.Column("crossed_at_us", sa.BigInteger, nullable=False),
        **MYSQL_TABLE,
    )


def downgrade() -> None:
    op.drop_table("llmledger_budget_crossings")
