"""The schema's compatibility window (registry/migrate.py): a database migrated by a new
build still serves the previous one (expand), so a rollout keeps it running and a rollback
starts it again; a build older than a contract step is refused, naming both revisions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from registry import migrate
from registry.migrate import Release, SchemaAhead, SchemaBehind
from registry.tables import metadata

#: Two later releases of the registry: 9001 adds a column (expand) and its code stops writing
#: `audit_reads.material_sha256`; 9002 drops that column (contract), which every build before
#: 9001 still writes.
LATER = {
    "9001_expand.py": '''
revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None
serves_code_from = "{serves}"

import sqlalchemy as sa
from alembic import op


def upgrade() -> None:
    with op.batch_alter_table("audit_reads") as batch:
        batch.add_column(sa.Column("material_digest", sa.String(128), nullable=True))
''',
    "9002_contract.py": '''
revision = "9002"
down_revision = "9001"
branch_labels = None
depends_on = None
serves_code_from = "9001"

from alembic import op


def upgrade() -> None:
    with op.batch_alter_table("audit_reads") as batch:
        batch.drop_column("material_sha256")
''',
}


@pytest.fixture
def later_scripts(tmp_path: Path) -> Path:
    """The package's migrations followed by the two later releases' steps."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    serves = migrate.serves_code_from(migrate.head())
    for name, text in LATER.items():
        (scripts / "versions" / name).write_text(text.format(head=migrate.head(), serves=serves), encoding="utf-8")
    return scripts


def test_every_step_declares_the_oldest_code_it_serves_and_the_window_only_moves_forward() -> None:
    release = migrate.this_release()
    assert release.head == migrate.head() and release.requires == migrate.REQUIRES
    previous = release.revisions[0]
    for revision in release.revisions:
        script = migrate._scripts().get_revision(revision)
        assert script is not None and hasattr(script.module, "serves_code_from"), (
            f"migration {revision} must declare serves_code_from (registry/migrate.py)")
        serves = migrate.serves_code_from(revision)
        assert serves in release.revisions[: release.revisions.index(revision) + 1], (revision, serves)
        assert release.revisions.index(serves) >= release.revisions.index(previous), (
            f"migration {revision} serves code from {serves}, before the {previous} of an earlier step")
        previous = serves


def test_this_code_runs_on_the_revision_it_requires(empty_database_url: str) -> None:
    """REQUIRES is true: at that revision every table and column the code uses exists."""
    migrate.upgrade(empty_database_url, migrate.REQUIRES)
    engine = create_engine(empty_database_url)
    try:
        with engine.connect() as c:
            context = MigrationContext.configure(c, opts={"include_name": migrate.not_bookkeeping})
            missing = [d for d in compare_metadata(context, metadata) if d[0] in ("add_table", "add_column")]
    finally:
        engine.dispose()
    assert missing == [], f"the code uses what revision {migrate.REQUIRES} lacks: raise migrate.REQUIRES"


def test_after_a_rollout_the_previous_build_still_runs_and_one_before_a_contract_step_is_refused(
    empty_database_url: str, later_scripts: Path
) -> None:
    url, this = empty_database_url, migrate.this_release()
    previous = Release.of(head=this.revisions[-2])  # the release before this one, as it was built

    # This build migrates to its head: it runs, and so does the previous build (a rollback).
    migrate.upgrade(url)
    assert migrate.require_current(url) == this.head
    assert migrate.require_current(url, previous) == this.head
    assert migrate.schema_state(url) == (this.head, migrate.serves_code_from(this.head))

    # The next release's expand step: this build and the previous one still run on it, and
    # this build's migrate job (a rollback runs it first) leaves the database as it is.
    migrate.upgrade(url, "9001", scripts=later_scripts)
    assert migrate.require_current(url) == "9001"
    assert migrate.require_current(url, previous) == "9001"
    assert migrate.upgrade(url) == migrate.Migrated("9001", "9001")
    assert migrate.schema_state(url) == ("9001", migrate.serves_code_from(this.head))

    # Its contract step drops a column this build writes: this build is refused, clearly.
    migrate.upgrade(url, "9002", scripts=later_scripts)
    assert migrate.require_current(url, Release.of(later_scripts, head="9001")) == "9002"
    for build in (this, previous):
        with pytest.raises(SchemaAhead) as ahead:
            migrate.require_current(url, build)
        message = str(ahead.value)
        assert "\n" not in message
        assert (f"is at revision 9002, migrated by a newer version, and serves code of revision 9001 or later; "
                f"this version's head is {build.head}: run a build of revision 9001 or later") in message
        assert "restored from a backup" in message
    with pytest.raises(SchemaAhead, match="serves code of revision 9001 or later"):
        migrate.upgrade(url)  # this build's migrate job refuses too, changing nothing
    assert migrate.schema_state(url) == ("9002", "9001")


def test_a_build_needing_a_later_schema_is_refused_naming_the_fix(empty_database_url: str, later_scripts: Path) -> None:
    migrate.upgrade(empty_database_url)
    newer = Release.of(later_scripts, head="9001")  # its code writes material_digest
    with pytest.raises(SchemaBehind) as behind:
        migrate.require_current(empty_database_url, newer)
    assert str(behind.value).endswith(
        f"is at revision {migrate.head()}, behind revision 9001 which this version needs (head 9001): "
        "run `filings registry migrate`")
