"""The registry of filings (SPEC §11): subjects, mini-programs, people on record, changes.

Revision ID: 0001
Revises:
Create Date: 2025-06-01

Written out in full rather than imported from `registry.tables`: a migration is a fixed
step in the database's history, while the tables module follows the head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
#: The oldest code this schema serves (registry/migrate.py): the first.
serves_code_from = "0001"

_STATE_CHECK = "state IN ('ACTIVE', 'CANCELLED', 'ACCESS_CANCELLED')"
_ACTIVE = sa.text("state = 'ACTIVE'")


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("subject_key", sa.String(40), primary_key=True),
        sa.Column("subject_number", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("province", sa.String(4), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.CheckConstraint(_STATE_CHECK, name="ck_subjects_state"),
        sa.UniqueConstraint("subject_number", name="uq_subjects_subject_number"),
    )
    op.create_index("ix_subjects_name", "subjects", ["name"])

    op.create_table(
        "mini_programs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_key", sa.String(40), nullable=False),
        sa.Column("service_number", sa.String(40), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("appid", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("subject_key", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("approved_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.Column("last_filing_id", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["subject_key"], ["subjects.subject_key"], name="fk_mini_programs_subject"),
        sa.CheckConstraint(_STATE_CHECK, name="ck_mini_programs_state"),
        sa.CheckConstraint("sequence > 0", name="ck_mini_programs_sequence"),
        sa.UniqueConstraint("service_key", name="uq_mini_programs_service_key"),
        sa.UniqueConstraint("service_number", name="uq_mini_programs_service_number"),
    )
    op.create_index("ix_mini_programs_appid", "mini_programs", ["appid"])
    op.create_index("ix_mini_programs_subject", "mini_programs", ["subject_key", "sequence"])
    op.create_index(
        "uq_mini_programs_active_appid",
        "mini_programs",
        ["appid"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )

    op.create_table(
        "people_on_record",
        sa.Column("service_key", sa.String(40), primary_key=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.ForeignKeyConstraint(["service_key"], ["mini_programs.service_key"], name="fk_people_mini_program"),
    )

    op.create_table(
        "registry_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("filing_key", sa.String(200), nullable=False),
        sa.Column("filing_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("appid", sa.String(32), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("approved_at", _instant(), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.UniqueConstraint("filing_key", name="uq_registry_changes_filing_key"),
    )
    op.create_index("ix_registry_changes_appid", "registry_changes", ["appid"])


def downgrade() -> None:
    op.drop_table("registry_changes")
    op.drop_table("people_on_record")
    op.drop_index("uq_mini_programs_active_appid", table_name="mini_programs")
    op.drop_table("mini_programs")
    op.drop_table("subjects")
