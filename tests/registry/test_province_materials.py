"""The provinces' supplementary-material lists in force live in the registry database (R10,
issue 17): `filings materials provinces import FILE` checks the operators' list whole and
stores it, all or nothing; every check (the starter's, the service's, the worker's L1)
then asks what that list asks, and `... show` says which list is in force."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner, Result

from activities.submission import SubmissionCheck, SubmissionCheckRequest
from adapters.materials_local import FileMaterialStore
from cli.app import app
from engine.batch import check_outside, read_application
from engine.checks import CheckUnavailable, start_violations
from engine.settings import Settings
from engine.wiring import engine_activities, registry_from_settings
from filing.examples import example_application, example_materials
from filing.models import Application
from filing.ports import MaterialOwner
from filing.province_materials import parse_province_listing
from registry import migrate
from registry.database import RegistryUnavailable
from registry.province_materials import ProvinceMaterialsStore
from service.context import build_services
from service.outside import start_violations as service_start_violations
from service.principal import Principal, Role
from tests.conftest import TEST_KEYS, write_test_keys
from tests.registry.conftest import PostgresServer, free_port

PLEDGE = {"name": "网络安全承诺书", "name_en": "network security pledge", "subject_types": ["NON_PERSONAL"]}
#: The operators' list: 四川 asks for a pledge since its notice; 河北's old item is not checked.
OPERATORS_LIST = {
    "description": "各省通信管理局补充材料（运营核对）",
    "updated": "2026-12-01",
    "provinces": {
        "四川": {"source": "四川省通信管理局 关于小程序备案补充材料的通知 (2026-11)", "checked": "2026-11-30",
                 "items": [PLEDGE]},
        "河北": {"source": "河北省通信管理局: notice not found, re-check", "checked": None, "items": []},
    },
}
IMPORT = MaterialOwner.imported("test:operator")


def _write(directory: Path, name: str, payload: dict[str, Any] | str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def _settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", registry_url=database_url, payload_keys=TEST_KEYS.payload)


def _filings(tmp_path: Path, database_url: str) -> Callable[..., Result]:
    """`filings materials provinces …` with the operator's environment (the registry URL); run
    on a thread of its own, as the tool runs its own event loop."""
    write_test_keys(tmp_path / "data")
    env = {"FILINGS_DATA_DIR": str(tmp_path / "data"), "FILINGS_REGISTRY_URL": database_url}

    def filings(*args: str) -> Result:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(CliRunner().invoke, app, ["materials", "provinces", *args], env=env).result()

    return filings


async def _company(settings: Settings, province: str) -> tuple[Application, Path]:
    """A company's application in `province` with its materials uploaded, written to a file."""
    application = example_application(datetime.now(UTC), province=province)
    store = FileMaterialStore(settings.data_dir, TEST_KEYS.payload)
    for content in example_materials().values():
        await store.put(content, IMPORT)
    path = settings.data_dir / f"{application.appid}-{province}.json"
    path.write_text(application.model_dump_json(exclude_none=True), encoding="utf-8")
    return application, path


def _keys(violations: list[Any]) -> set[tuple[str, str]]:
    return {(v.key, v.field) for v in violations}


MISSING_PLEDGE = {("R10.extra_material_missing", "extra_materials")}


async def test_an_imported_list_is_what_every_check_asks_for(database_url: str, tmp_path: Path) -> None:
    settings, filings = _settings(tmp_path, database_url), _filings(tmp_path, database_url)
    sichuan, sichuan_file = await _company(settings, "四川省")
    hebei, _ = await _company(settings, "河北省")
    hebei.extra_materials = [m for m in hebei.extra_materials if m.name != "备案承诺书"]
    starter_check = await check_outside(read_application(sichuan_file), settings, None, None)
    assert starter_check.ok  # the shipped list asks nothing of 四川
    shown = json.loads(filings("show", "--json").output)
    assert shown["origin"] == "shipped" and {p["name"] for p in shown["provinces"]} == {"河北", "广东", "浙江"}

    done = filings("import", str(_write(tmp_path / "ops", "lists.json", OPERATORS_LIST)))
    assert done.exit_code == 0, done.output
    assert "added (version 1)" in done.output and "四川" in done.output

    # The starter and `filings start`: the 四川 company now needs the pledge, by its name.
    refused = await check_outside(read_application(sichuan_file), settings, None, None)
    assert refused.outcome == "rejected" and _keys(refused.violations) == MISSING_PLEDGE
    assert "网络安全承诺书" in refused.violations[0].message_zh
    # The worker's L1 check, as the wiring builds it: the same, and the workflow keeps this list.
    check = next(fn for fn in engine_activities(settings) if fn.__name__ == "check_submission")
    for application, expected in ((sichuan, MISSING_PLEDGE), (hebei, set())):
        answer: SubmissionCheck = await ActivityEnvironment().run(
            check, SubmissionCheckRequest(application=application, submitted_at=datetime.now(UTC)))
        assert _keys(answer.violations) == expected  # 河北's unchecked item is asked no more
        assert answer.province_materials is not None and set(answer.province_materials.provinces) == {"蜀"}
    # The filing service's check (every replica reads the same row).
    services = build_services(settings)
    try:
        operator = Principal(sub="ops-1", role=Role.OPERATOR)
        found = await service_start_violations(sichuan, services.materials, services.registry, operator,
                                               services.province_lists.lists)
        assert _keys(found) == MISSING_PLEDGE
    finally:
        services.engine.dispose()

    # `show` says which list is in force, with each province's source and checked date.
    shown = json.loads(filings("show", "--json").output)
    assert shown["origin"] == "registry" and shown["version"] == 1 and shown["imported_from"].endswith("lists.json")
    by_name = {p["name"]: p for p in shown["provinces"]}
    assert by_name["四川"]["checked"] == "2026-11-30" and by_name["四川"]["source"].startswith("四川省通信管理局")
    assert by_name["河北"]["checked"] is None
    text = filings("show").output
    assert "in force: the list imported into the registry database" in text and "never checked" in text


async def test_an_operators_list_with_a_typo_is_refused_whole_and_nothing_changes(
        database_url: str, tmp_path: Path) -> None:
    filings = _filings(tmp_path, database_url)
    assert filings("import", str(_write(tmp_path / "ops", "lists.json", OPERATORS_LIST))).exit_code == 0
    store = ProvinceMaterialsStore(database_url)
    try:
        before, lists = store.stored(), store.lists()
        # The next list changes 四川 (fine) and adds 广东 with a misspelt field and subject type.
        changed = json.loads(json.dumps(OPERATORS_LIST))
        changed["provinces"]["四川"]["checked"] = "2026-12-05"
        changed["provinces"]["广东"] = {"source": "广东省通信管理局", "checked": "2026-12-01", "items": [
            {"name": "承诺书", "name_en": "pledge", "subject_type": ["ENTERPRISE"]},
            {"name": "授权书", "name_en": "letter", "subject_types": ["ENTERPRIZE"]}]}
        refused = filings("import", str(_write(tmp_path / "ops", "typo.json", changed)))
        assert refused.exit_code == 1
        message = " ".join(refused.output.split())
        assert "provinces.广东.items.0.subject_type: unknown field; known: name, name_en, subject_types" in message
        assert "provinces.广东.items.1.subject_types.0: Input should be 'PERSONAL', 'ENTERPRISE'" in message
        assert "or a group: ALL, NON_PERSONAL" in message and "nothing was imported" in message
        # A line broken in the editor: the line is named.
        broken = json.dumps(OPERATORS_LIST, ensure_ascii=False, indent=2).replace(
            '"checked": "2026-11-30",', '"checked": "2026-11-30"')  # the comma lost
        refused = filings("import", str(_write(tmp_path / "ops", "broken.json", broken)))
        assert refused.exit_code == 1 and "not JSON: expected `,` or `}` at line 8 column" in " ".join(refused.output.split())
        # An unknown province: named, with what is valid.
        mars = filings("import", str(_write(tmp_path / "ops", "mars.json", {"provinces": {"火星": {"source": "x"}}})))
        assert mars.exit_code == 1 and "unknown province '火星' (use a name such as 河北" in " ".join(mars.output.split())

        assert store.stored() == before and store.lists() == lists  # not even 四川's new date
    finally:
        store.close()


async def test_the_registry_unreachable_is_a_clear_error_and_no_list_is_guessed(tmp_path: Path) -> None:
    """An outage is no reason to fall back to the shipped list: the import says nothing was
    imported, a start check is refused as unavailable (503 / retried), never judged on another list."""
    url = f"postgresql+psycopg://test:s3cret@127.0.0.1:{free_port()}/registry"
    filings = _filings(tmp_path, url)
    refused = filings("import", str(_write(tmp_path / "ops", "lists.json", OPERATORS_LIST)))
    assert refused.exit_code == 1
    message = " ".join(refused.output.split())
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in message and "nothing was imported" in message
    assert "s3cret" not in message
    assert filings("show").exit_code == 1

    store = ProvinceMaterialsStore(url)
    try:
        with pytest.raises(RegistryUnavailable):
            store.lists()
        settings = Settings(data_dir=tmp_path / "data", payload_keys=TEST_KEYS.payload)
        migrate.upgrade(settings.registry_database_url)
        application = example_application(datetime.now(UTC), province="四川省")
        with pytest.raises(CheckUnavailable, match="the registry is unavailable"):
            await start_violations(application, datetime.now(UTC), store=FileMaterialStore(settings.data_dir,
                                   TEST_KEYS.payload), registry=registry_from_settings(settings),
                                   province_lists=store.lists)
    finally:
        store.close()


def test_postgresql_gone_for_good_during_an_import_leaves_the_list_before(postgres_server: PostgresServer) -> None:
    """The database stops taking connections while the import's transaction is open: the
    import fails naming the database, and the list before is whole."""
    database = postgres_server.create_database()
    url = postgres_server.url(database)
    migrate.upgrade(url)
    admin = f"host=127.0.0.1 port={postgres_server.port} user=test dbname=postgres"
    store = ProvinceMaterialsStore(url)
    try:
        first = parse_province_listing(json.dumps(OPERATORS_LIST, ensure_ascii=False))
        assert store.import_listing(first, "first.json").outcome == "added"
        before = store.stored()

        def server_gone() -> datetime:
            """Called inside the import's transaction, after its read: the database goes away."""
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
                c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
            return datetime.now(UTC)

        changed = json.loads(json.dumps(OPERATORS_LIST))
        changed["provinces"]["四川"]["items"].append({**PLEDGE, "name": "承诺视频", "material_type": "video"})
        doomed = ProvinceMaterialsStore(url, clock=server_gone)
        try:
            with pytest.raises(RegistryUnavailable) as failed:
                doomed.import_listing(parse_province_listing(json.dumps(changed, ensure_ascii=False)), "second.json")
            assert make_url(url).render_as_string(hide_password=True) in str(failed.value)
        finally:
            doomed.close()
        with psycopg.connect(admin, autocommit=True) as c:  # the operators bring it back
            c.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        assert store.stored() == before
    finally:
        store.close()
