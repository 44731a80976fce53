"""`llmledger_calls.latency_ms` in double precision on MySQL/MariaDB.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

SQLAlchemy's `Float` is FLOAT on MySQL and MariaDB: single precision, so 1234.5678 ms came
back as 1234.57. SQLite's REAL and PostgreSQL's FLOAT are already double precision.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_context().dialect.name in ("mysql", "mariadb"):
        op.alter_column(
            "llmledger_calls", "latency_ms", type_=sa.Double(), existing_type=sa.Float()
        )


def downgrade() -> None:
    if op.get_context().dialect.name in ("mysql", "mariadb"):
        op.alter_column(
            "llmledger_calls", "latency_ms", type_=sa.Float(), existing_type=sa.Double()
        )
