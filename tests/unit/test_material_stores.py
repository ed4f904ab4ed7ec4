"""The material stores (SPEC §8, R10): sealed at rest, named by content, written once.

The local store runs on a temp dir. The S3 store runs against moto's `ThreadedMotoServer`
on 127.0.0.1, started and stopped here: moto stands in for S3/MinIO because no S3 server
comes from Debian's packages (compose runs MinIO itself). The starter and `filings
materials add` run as the user runs them, on a temp data dir.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image
from pydantic import SecretStr
from typer.testing import CliRunner

from adapters.materials_local import DIRECTORY, OWNERS_DIRECTORY, FileMaterialStore
from adapters.materials_s3 import MaterialStoreUnavailable, S3MaterialStore
from cli.app import app as filings
from engine.batch import check_outside, launch_file, read_application
from registry.migrate import upgrade
from engine.keys import Keyring, MissingKey
from engine.settings import S3Settings, Settings
from engine.wiring import ADAPTERS
from filing.examples import example_application, example_materials, example_pdf, example_png
from filing.materials import material_sha256
from filing.ports import MaterialOwner, MaterialRejected
from tests.conftest import TEST_KEYS

ROOT = Path(__file__).resolve().parents[2]
SCAN = example_png((200, 225, 250))
#: A PDF whose text is easy to look for in a file that must not show it.
LETTER = example_pdf("RECOGNISABLE-PLAIN-TEXT-" * 8)
SECRET = "s3-secret-never-printed"
IMPORT = MaterialOwner.imported("tests")


def free_port() -> int:
    """A port nobody listens on (bound, then released): a server that is down for good."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the local store --------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> FileMaterialStore:
    return FileMaterialStore(tmp_path / "data", TEST_KEYS.payload)


async def test_a_material_is_sealed_on_disk_and_named_by_its_content(store: FileMaterialStore) -> None:
    stored = await store.put(LETTER, IMPORT)
    assert (stored.media_type, stored.bytes) == ("application/pdf", len(LETTER))
    files = list(store.directory.iterdir())
    assert [f.name for f in files] == [stored.sha256]
    raw = files[0].read_bytes()
    assert LETTER not in raw and b"RECOGNISABLE" not in raw and b"%PDF" not in raw
    assert await store.get(stored.sha256) == LETTER
    assert await store.stat(stored.sha256) == stored


async def test_the_same_content_is_stored_once(store: FileMaterialStore) -> None:
    first = await store.put(SCAN, IMPORT)
    path = store.directory / first.sha256
    before = path.stat()
    again = await store.put(SCAN, IMPORT)
    assert again == first
    assert [p.name for p in store.directory.iterdir()] == [first.sha256]
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


async def test_directories_and_files_are_owner_only(store: FileMaterialStore) -> None:
    previous = os.umask(0)  # even a permissive umask leaves materials private
    try:
        stored = await store.put(SCAN, IMPORT)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.directory.parent.stat().st_mode) == 0o700  # the data dir it created
    assert stat.S_IMODE((store.directory / stored.sha256).stat().st_mode) == 0o600


async def test_a_torn_temp_file_left_by_a_crash_is_ignored(store: FileMaterialStore) -> None:
    stored = await store.put(LETTER, IMPORT)
    whole = (store.directory / stored.sha256).read_bytes()
    other = example_pdf("another letter")
    other_sha = hashlib.sha256(other).hexdigest()
    torn = store.directory / f".{other_sha[:16]}.k2j3h4.tmp"  # what a crash mid-write leaves
    torn.write_bytes(whole[: len(whole) // 2])
    assert await store.stat(other_sha) is None and await store.get(other_sha) is None
    assert (await store.put(other, IMPORT)).sha256 == other_sha
    assert await store.get(other_sha) == other
    assert await store.get(stored.sha256) == LETTER


async def test_a_damaged_file_reads_as_absent_and_a_new_upload_repairs_it(store: FileMaterialStore) -> None:
    stored = await store.put(SCAN, IMPORT)
    (store.directory / stored.sha256).write_bytes(b"garbage")
    assert await store.stat(stored.sha256) is None
    assert await store.put(SCAN, IMPORT) == stored
    assert await store.get(stored.sha256) == SCAN


async def test_refused_content_leaves_nothing_behind(store: FileMaterialStore) -> None:
    for content, key in [(b"GIF89a", "R10.unsupported_media_type"), (b"", "R10.empty_material")]:
        with pytest.raises(MaterialRejected) as refused:
            await store.put(content, IMPORT)
        assert refused.value.key == key
    assert not store.directory.exists()


async def test_a_sealed_file_moved_to_another_name_does_not_open(store: FileMaterialStore) -> None:
    a, b = await store.put(SCAN, IMPORT), await store.put(LETTER, IMPORT)
    (store.directory / b.sha256).write_bytes((store.directory / a.sha256).read_bytes())
    with pytest.raises(ValueError, match="authentication"):
        await store.get(b.sha256)


async def test_keys_rotate_and_a_missing_key_is_named(tmp_path: Path) -> None:
    old = Keyring.generate("m1")
    stored = await FileMaterialStore(tmp_path, old).put(SCAN, IMPORT)
    assert await FileMaterialStore(tmp_path, old.with_new_current("m2")).get(stored.sha256) == SCAN
    with pytest.raises(MissingKey, match="'m1'"):
        await FileMaterialStore(tmp_path, Keyring.generate("other")).get(stored.sha256)


async def test_names_that_are_not_hashes_never_reach_the_file_system(store: FileMaterialStore) -> None:
    with pytest.raises(ValueError, match="64 lower-case hex"):
        await store.get("../keys.json")
    with pytest.raises(ValueError):
        await store.stat("A" * 64)


# --- who stored a material (R10: materials belong to their uploader) ---------------------------

A = MaterialOwner(principal="applicant:zhang", appids=["wx00000000000000aa"])
B = MaterialOwner(principal="applicant:li", appids=["wx00000000000000bb"])


async def owners_are_kept_with_the_material(make_store: Any) -> None:
    """The attacker's view of a store: A stores a scan; B, who only knows its hash, owns
    nothing — also after a restart, on another replica (a new store on the same place)."""
    stored = await make_store().put(SCAN, A)
    other = make_store()  # a restart, or another replica
    assert await other.owned_by(stored.sha256, A)
    co_admin = MaterialOwner(principal="applicant:wang", appids=["wx00000000000000aa"])
    assert await other.owned_by(stored.sha256, co_admin)  # the same mini-program's administrators share
    assert not await other.owned_by(stored.sha256, B)
    assert not await other.owned_by("0" * 64, A)
    assert not await other.owned_by(stored.sha256, MaterialOwner.imported("cli:ops"))
    await other.put(SCAN, B)  # B has the very file: uploading it makes B an owner too
    assert await make_store().owned_by(stored.sha256, B) and await make_store().owned_by(stored.sha256, A)


async def test_the_local_store_records_who_stored_a_material(tmp_path: Path) -> None:
    await owners_are_kept_with_the_material(lambda: FileMaterialStore(tmp_path, TEST_KEYS.payload))
    owners = tmp_path / OWNERS_DIRECTORY
    records = [json.loads(p.read_text()) for p in owners.rglob("*") if p.is_file()]
    assert {(r["principal"], r["claim"]) for r in records} == {
        ("applicant:zhang", "principal:applicant:zhang"), ("applicant:zhang", "appid:wx00000000000000aa"),
        ("applicant:li", "principal:applicant:li"), ("applicant:li", "appid:wx00000000000000bb")}
    assert all(stat.S_IMODE(p.stat().st_mode) == (0o600 if p.is_file() else 0o700) for p in owners.rglob("*"))
    assert [p.name for p in (tmp_path / DIRECTORY).iterdir()] == [material_sha256(SCAN)]  # content apart


async def test_an_image_is_stored_re_encoded_and_named_by_what_is_stored(store: FileMaterialStore) -> None:
    """A PNG with an HTML page after its end, or slipped in before it: the store keeps the
    picture only, and answers the name of what it keeps."""
    page = b"<html><script>alert(document.cookie)</script></html>"
    for upload in (SCAN + page, SCAN[:-12] + page + SCAN[-12:]):
        stored = await store.put(upload, A)
        kept = await store.get(stored.sha256)
        assert kept is not None and b"<script" not in kept and stored.sha256 == material_sha256(kept)
        assert stored.sha256 != material_sha256(upload) and kept.endswith(b"IEND\xaeB`\x82")
        assert stored.bytes == len(kept)
        with Image.open(io.BytesIO(kept)) as image:
            assert image.format == "PNG" and image.size == (86, 54)
            image.load()
        assert kept == SCAN  # the very picture, as the store encodes it


def test_the_wiring_builds_the_configured_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, payload_keys=TEST_KEYS.payload)
    local = ADAPTERS["material_store"]["local"](settings)
    assert isinstance(local, FileMaterialStore) and local.directory == tmp_path / DIRECTORY
    s3 = ADAPTERS["material_store"]["s3"](settings.model_copy(update={"s3": S3Settings(bucket="b")}))
    assert isinstance(s3, S3MaterialStore) and "'b'" in s3.where
    with pytest.raises(MissingKey, match="FILINGS_PAYLOAD_KEYS"):
        ADAPTERS["material_store"]["local"](Settings(data_dir=tmp_path / "nokeys"))


# --- the S3 store against moto ------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_settings(endpoint: str, bucket: str) -> S3Settings:
    return S3Settings(
        endpoint_url=endpoint, bucket=bucket, access_key_id=SecretStr("test-key"), secret_access_key=SecretStr(SECRET)
    )


def raw_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test-key", aws_secret_access_key=SECRET)


@pytest.fixture
def bucket(moto_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = f"materials-{request.node.name.lower().replace('_', '-')[:40]}"
    raw_client(moto_endpoint).create_bucket(Bucket=name)
    return name


async def test_s3_store_seals_names_by_content_and_stores_once(moto_endpoint: str, bucket: str) -> None:
    store = S3MaterialStore(s3_settings(moto_endpoint, bucket), TEST_KEYS.payload)
    stored = await store.put(LETTER, IMPORT)
    assert await store.put(LETTER, IMPORT) == stored
    client = raw_client(moto_endpoint)
    listed = client.list_objects_v2(Bucket=bucket, Prefix="materials/")["Contents"]
    assert [o["Key"] for o in listed] == [f"materials/{stored.sha256}"]
    raw = client.get_object(Bucket=bucket, Key=f"materials/{stored.sha256}")
    body = raw["Body"].read()
    assert LETTER not in body and b"RECOGNISABLE" not in body
    assert raw["Metadata"] == {"media-type": "application/pdf", "bytes": str(len(LETTER))}
    assert await store.stat(stored.sha256) == stored
    assert await store.get(stored.sha256) == LETTER
    missing = "0" * 64
    assert await store.stat(missing) is None and await store.get(missing) is None
    with pytest.raises(MaterialRejected):
        await store.put(b"not a scan", IMPORT)
    assert len(client.list_objects_v2(Bucket=bucket, Prefix="materials/")["Contents"]) == 1


async def test_s3_store_reads_what_the_local_store_sealed_the_same_way(moto_endpoint: str, bucket: str,
                                                                       tmp_path: Path) -> None:
    """One sealing format: moving materials between stores is a copy of bytes."""
    local = FileMaterialStore(tmp_path, TEST_KEYS.payload)
    stored = await local.put(SCAN, IMPORT)
    sealed = (local.directory / stored.sha256).read_bytes().split(b"\n", 1)[1]
    raw_client(moto_endpoint).put_object(Bucket=bucket, Key=f"materials/{stored.sha256}", Body=sealed,
                                         Metadata={"media-type": "image/png", "bytes": str(len(SCAN))})
    s3 = S3MaterialStore(s3_settings(moto_endpoint, bucket), TEST_KEYS.payload)
    assert await s3.get(stored.sha256) == SCAN


async def test_the_s3_store_records_who_stored_a_material(moto_endpoint: str, bucket: str) -> None:
    await owners_are_kept_with_the_material(
        lambda: S3MaterialStore(s3_settings(moto_endpoint, bucket), TEST_KEYS.payload))
    client = raw_client(moto_endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="material-owners/")["Contents"]]
    assert len(keys) == 4 and all(k.startswith(f"material-owners/{material_sha256(SCAN)}/") for k in keys)
    bodies = [json.loads(client.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]
    assert {b["principal"] for b in bodies} == {"applicant:zhang", "applicant:li"}


async def test_a_missing_bucket_is_named(moto_endpoint: str) -> None:
    store = S3MaterialStore(s3_settings(moto_endpoint, "no-such-bucket"), TEST_KEYS.payload)
    with pytest.raises(MaterialStoreUnavailable) as err:
        await store.stat("0" * 64)
    assert "'no-such-bucket'" in str(err.value) and moto_endpoint in str(err.value)
    assert "does not exist" in str(err.value) and SECRET not in str(err.value)


async def test_an_s3_endpoint_down_for_good_is_a_quick_clear_error() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = S3MaterialStore(s3_settings(endpoint, "filing-materials"), TEST_KEYS.payload)
    started = time.monotonic()
    for attempt in (store.put(SCAN, IMPORT), store.stat("0" * 64)):
        with pytest.raises(MaterialStoreUnavailable) as err:
            await attempt
        message = str(err.value)
        assert endpoint in message and "'filing-materials'" in message and "unreachable" in message
        assert SECRET not in message and "test-key" not in message
    assert time.monotonic() - started < 10


# --- the launch path, the starter and the tool ------------------------------------------------------


async def test_a_file_naming_materials_not_in_the_store_starts_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, payload_keys=TEST_KEYS.payload)
    upgrade(settings.registry_database_url)
    path = tmp_path / "app.json"
    application = example_application(datetime.now(UTC))
    path.write_text(application.model_dump_json(exclude_none=True), encoding="utf-8")
    assert read_application(path).ok  # pure: the names are all there
    never_used = object()  # a client that would fail if anything were started
    refused = await launch_file(never_used, settings, path)  # type: ignore[arg-type]
    assert refused.outcome == "rejected"
    assert {v.key for v in refused.violations} == {"R10.material_not_uploaded"}
    assert {v.field for v in refused.violations} == {f for f, _ in application.materials()}

    down = S3MaterialStore(s3_settings(f"http://127.0.0.1:{free_port()}", "b"), TEST_KEYS.payload)
    outage = await launch_file(never_used, settings, path, store=down)  # type: ignore[arg-type]
    assert outage.outcome == "refused" and "unreachable" in (outage.error or "")
    assert "nothing was started" in (outage.error or "")

    store = FileMaterialStore(tmp_path, TEST_KEYS.payload)
    for content in example_materials().values():
        await store.put(content, IMPORT)
    assert (await check_outside(read_application(path), settings, None, None)).ok


def run(args: list[str], data_dir: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    variables |= {"FILINGS_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=variables, capture_output=True, text=True, timeout=60)


def import_sources(data_dir: Path) -> set[tuple[str, str]]:
    """Who the local store recorded as the owners of what it holds: (principal, source)."""
    records = [json.loads(p.read_text()) for p in (data_dir / OWNERS_DIRECTORY).rglob("*") if p.is_file()]
    return {(r["principal"], r["source"]) for r in records}


def test_starter_example_stores_its_materials_so_it_starts_as_it_is(tmp_path: Path) -> None:
    keys = json.dumps(TEST_KEYS.payload.dump())
    data = tmp_path / "data"
    made = run([str(ROOT / "starter.py"), "--example", "example.json"], data, tmp_path, FILINGS_PAYLOAD_KEYS=keys)
    assert made.returncode == 0, made.stderr
    assert "materials are in the material store" in made.stdout
    checked = read_application(tmp_path / "example.json")
    assert checked.ok and checked.application is not None
    settings = Settings(data_dir=data, payload_keys=TEST_KEYS.payload)
    upgrade(settings.registry_database_url)
    assert asyncio.run(check_outside(checked, settings, None, None)).ok
    assert import_sources(data) == {(f"starter:{getpass.getuser()}", "starter")}  # an import names its source

    nokeys = run([str(ROOT / "starter.py"), "--example", "other.json"], tmp_path / "empty", tmp_path)
    assert nokeys.returncode == 1 and "FILINGS_PAYLOAD_KEYS" in nokeys.stderr
    assert "no example was written" in nokeys.stderr and not (tmp_path / "other.json").exists()


def test_filings_materials_add_prints_each_hash_and_refuses_bad_files(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILINGS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FILINGS_MODE", "direct")  # straight into the store; through the service: test_cli.py
    monkeypatch.setenv("FILINGS_PAYLOAD_KEYS", json.dumps(TEST_KEYS.payload.dump()))
    (tmp_path / "id.png").write_bytes(SCAN)
    (tmp_path / "letter.docx.pdf").write_bytes(b"PK\x03\x04 a word file renamed")
    (tmp_path / "big.pdf").write_bytes(b"%PDF-1.4\n" + bytes(5 * 1024 * 1024))
    (tmp_path / "letter.pdf").write_bytes(LETTER)
    files = [str(tmp_path / n) for n in ("id.png", "letter.docx.pdf", "big.pdf", "letter.pdf")]
    result = CliRunner().invoke(filings, ["materials", "add", *files])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    sha = hashlib.sha256
    assert lines == [
        f"{sha(SCAN).hexdigest()}  image/png  {len(SCAN)}  {files[0]}",
        f"{sha(LETTER).hexdigest()}  application/pdf  {len(LETTER)}  {files[3]}",
    ]
    assert "R10.unsupported_media_type" in result.stderr and "R10.too_large" in result.stderr
    stored = sorted(p.name for p in (tmp_path / "data" / "materials").iterdir())
    assert stored == sorted([sha(SCAN).hexdigest(), sha(LETTER).hexdigest()])
    assert import_sources(tmp_path / "data") == {(f"cli:{getpass.getuser()}", "cli")}  # an import names its source

    again = CliRunner().invoke(filings, ["materials", "add", files[0], "--json"])
    assert again.exit_code == 0
    assert json.loads(again.stdout) == [
        {"file": files[0], "sha256": sha(SCAN).hexdigest(), "media_type": "image/png", "bytes": len(SCAN)}
    ]
