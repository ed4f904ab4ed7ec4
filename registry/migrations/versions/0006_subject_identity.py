"""Subjects known by their certificate, open verifications by mobile, what the public lookup shows.

Issue 17: a subject (a company, a person) has one subject number in one province; the
registry now knows it by its certificate. Each section below belongs to one part of the
change; see the functions' docstrings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  (used by the sections below)
from alembic import op  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
#: Additive (expand: new nullable columns and new tables): code of 0001 on runs on it.
serves_code_from = "0001"


def upgrade() -> None:
    _subject_identity_upgrade()
    _open_verifications_upgrade()
    _public_lookup_upgrade()
    _province_materials_upgrade()


def downgrade() -> None:
    _province_materials_downgrade()
    _public_lookup_downgrade()
    _open_verifications_downgrade()
    _subject_identity_downgrade()


# --- subject identity (subjects keyed by certificate) ----------------------------------


def _subject_identity_upgrade() -> None:
    """Subjects gain their certificate (nullable: a migration holds no keys, so the digests
    and sealed documents of existing rows are filled by `filings registry identify-subjects`,
    which reports what it cannot fill and every certificate found under two subject numbers);
    one ACTIVE subject per certificate digest; the index of mobiles on record (R4)."""
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("certificate_type", sa.String(40), nullable=True))
        batch.add_column(sa.Column("certificate_number", sa.String(40), nullable=True))
        batch.add_column(sa.Column("certificate_digest", sa.String(100), nullable=True))
        batch.add_column(sa.Column("certificate_sealed", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("merged_into", sa.String(40), nullable=True))
    op.create_index("ix_subjects_certificate_number", "subjects", ["certificate_number"])
    op.create_index(
        "uq_subjects_active_certificate", "subjects", ["certificate_digest"], unique=True,
        sqlite_where=sa.text("state = 'ACTIVE'"), postgresql_where=sa.text("state = 'ACTIVE'"),
    )
    op.create_table(
        "mobiles_on_record",
        sa.Column("service_key", sa.String(40), nullable=False),
        sa.Column("mobile_digest", sa.String(100), nullable=False),
        sa.Column("person_digest", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["service_key"], ["mini_programs.service_key"], name="fk_mobiles_mini_program"),
        sa.PrimaryKeyConstraint("service_key", "mobile_digest", "person_digest", name="pk_mobiles_on_record"),
    )
    op.create_index("ix_mobiles_on_record_mobile", "mobiles_on_record", ["mobile_digest"])


def _subject_identity_downgrade() -> None:
    op.drop_index("ix_mobiles_on_record_mobile", table_name="mobiles_on_record")
    op.drop_table("mobiles_on_record")
    op.drop_index("uq_subjects_active_certificate", table_name="subjects")
    op.drop_index("ix_subjects_certificate_number", table_name="subjects")
    with op.batch_alter_table("subjects") as batch:
        for column in ("merged_into", "certificate_sealed", "certificate_digest", "certificate_number",
                       "certificate_type"):
            batch.drop_column(column)


# --- open verifications (the mobile's open 12381 verification) ---------------------------


def _open_verifications_upgrade() -> None:
    """The mobile's open 12381 verification (H3): keyed by an HMAC of the mobile, never the mobile."""
    op.create_table(
        "open_verifications",
        sa.Column("mobile_digest", sa.String(64), nullable=False),
        sa.Column("filing_id", sa.String(200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mobile_digest", "filing_id", name="pk_open_verifications"),
    )
    op.create_index("ix_open_verifications_expires_at", "open_verifications", ["expires_at"])


def _open_verifications_downgrade() -> None:
    op.drop_index("ix_open_verifications_expires_at", table_name="open_verifications")
    op.drop_table("open_verifications")


# --- public lookup (what MIIT publishes) --------------------------------------------------


def _public_lookup_upgrade() -> None:
    """服务前置审批项 of each mini-program (`mini_programs.pre_approvals`, a JSON list of
    categories), written from now on by L8 and the importer. Rows already there stay NULL:
    the registry never kept their applications, so nothing can fill them (shown as none)."""
    with op.batch_alter_table("mini_programs") as batch:
        batch.add_column(sa.Column("pre_approvals", sa.Text(), nullable=True))


def _public_lookup_downgrade() -> None:
    with op.batch_alter_table("mini_programs") as batch:
        batch.drop_column("pre_approvals")


# --- province supplementary materials (the lists in force) --------------------------------


def _province_materials_upgrade() -> None:
    """The provinces' supplementary-material lists imported by the operators (one row, the
    whole list: `filings materials provinces import`). Empty: the shipped list applies."""
    op.create_table(
        "province_material_lists",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_from", sa.Text(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_province_material_lists_one_row"),
        sa.CheckConstraint("version > 0", name="ck_province_material_lists_version"),
        sa.PrimaryKeyConstraint("id"),
    )


def _province_materials_downgrade() -> None:
    op.drop_table("province_material_lists")
