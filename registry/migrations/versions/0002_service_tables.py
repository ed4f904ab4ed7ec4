"""The filing service's tables (SPEC §12, §9): Idempotency-Key store and audit log of reads.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
#: Additive (expand): code of 0001 on runs on it.
serves_code_from = "0001"


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_idempotency_keys"),
    )
    op.create_table(
        "audit_reads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("filing_id", sa.Text, nullable=True),
        sa.Column("appid", sa.Text, nullable=True),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_reads_appid_at", "audit_reads", ["appid", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_reads_appid_at", table_name="audit_reads")
    op.drop_table("audit_reads")
    op.drop_table("idempotency_keys")
