"""The codec server as users meet it: started beside `make run` (which already serves
one), it says which variable moves it instead of a traceback; and browsers are answered
from the Web UI's origins: the local UI under both its names (the dev server prints
`localhost`, `make run` prints `127.0.0.1`), or the list FILINGS_CODEC_CORS_ORIGIN gives."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf.json_format import MessageToJson, Parse
from temporalio.api.common.v1 import Payload, Payloads

from engine.codec import EncryptionCodec
from engine.codec_server import build_app
from engine.settings import Settings, load_settings
from tests.conftest import TEST_KEYS
from tests.processes import die_with_parent, free_ports, kill_group, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("FILINGS_", "TEMPORAL_")):
            monkeypatch.delenv(name)


def codec_env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    return env | {"PYTHONPATH": str(ROOT), "FILINGS_CODEC_PORT": str(port), "FILINGS_CODEC_TOKEN": "s3cret",
                  "FILINGS_PAYLOAD_KEYS": json.dumps(TEST_KEYS.payload.dump())} | extra


def allowed(headers: object) -> str | None:
    return headers.get("Access-Control-Allow-Origin")  # type: ignore[attr-defined]


@pytest.fixture
async def default_codec() -> AsyncIterator[TestClient]:
    settings = load_settings()  # nothing configured: the local Web UI of FILINGS_WEB_UI's default
    app = build_app(TEST_KEYS.payload, "s3cret", settings.codec_cors_origin)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8233", "http://localhost:8233"])
async def test_the_local_web_ui_is_answered_under_both_its_names(default_codec, origin):
    answer = await default_codec.options("/decode", headers={"Origin": origin, **PREFLIGHT})
    assert answer.status == 200 and allowed(answer.headers) == origin


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:9999", "https://localhost:8233"])
async def test_any_other_origin_is_refused(default_codec, origin):
    answer = await default_codec.options("/decode", headers={"Origin": origin, **PREFLIGHT})
    assert allowed(answer.headers) is None


async def sealed_payloads() -> tuple[str, bytes]:
    """A payload as the workers store it (sealed with the payload key), as the UI sends it to /decode."""
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"mobile": "13800138000"}')
    (sealed,) = await EncryptionCodec(TEST_KEYS.payload).encode([plain])
    return MessageToJson(Payloads(payloads=[sealed])), plain.data


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8233", "http://localhost:8233"])
async def test_the_web_ui_page_decodes_by_its_origin_and_header_without_any_token(default_codec, origin):
    body, plain = await sealed_payloads()
    answer = await default_codec.post("/decode", data=body, headers={
        "Origin": origin, "Content-Type": "application/json", "X-Namespace": "default"})
    assert answer.status == 200 and allowed(answer.headers) == origin
    (decoded,) = Parse(await answer.text(), Payloads()).payloads
    assert decoded.data == plain


async def test_no_other_page_and_no_tokenless_tool_decodes(default_codec):
    body, plain = await sealed_payloads()
    json_type = {"Content-Type": "application/json"}
    refused = {
        "a foreign page, with the UI's header": {"Origin": "http://evil.example", "X-Namespace": "default"},
        "a foreign page, even with the token": {"Origin": "http://evil.example", "X-Namespace": "default",
                                                "Authorization": "Bearer s3cret"},
        "the UI's origin without the UI's header": {"Origin": "http://127.0.0.1:8233"},
        "a tool without the token": {"X-Namespace": "default"},
        "a tool with a wrong token": {"Authorization": "Bearer s3cre"},
    }
    for why, headers in refused.items():
        answer = await default_codec.post("/decode", data=body, headers=json_type | headers)
        assert answer.status in (401, 403), why
        assert plain not in await answer.read(), why
    # The token no longer rides in a URL, and the UI's way does not encode.
    assert (await default_codec.post("/s3cret/decode", data=body, headers=json_type)).status == 404
    ui_encode = await default_codec.post("/encode", data=body, headers=json_type | {
        "Origin": "http://127.0.0.1:8233", "X-Namespace": "default"})
    assert ui_encode.status == 401
    # The CLI with --codec-auth: the bearer token, no Origin.
    tool = await default_codec.post("/decode", data=body, headers=json_type | {"Authorization": "Bearer s3cret"})
    assert tool.status == 200 and Parse(await tool.text(), Payloads()).payloads[0].data == plain


def test_the_default_origins_follow_the_port_of_FILINGS_WEB_UI():
    settings = Settings(web_ui="http://localhost:9233")
    assert settings.codec_cors_origin == "http://localhost:9233,http://127.0.0.1:9233"
    assert Settings(web_ui="https://ui.example/").codec_cors_origin == "https://ui.example"


def test_a_list_of_origins_is_read_comma_separated_and_normalised(monkeypatch):
    monkeypatch.setenv("FILINGS_CODEC_CORS_ORIGIN", " https://UI.example.com:443 , http://localhost:8080/ ")
    assert load_settings().codec_cors_origin == "https://ui.example.com,http://localhost:8080"
    monkeypatch.setenv("FILINGS_CODEC_CORS_ORIGIN", "")  # set but empty: the default
    assert load_settings().codec_cors_origin == "http://127.0.0.1:8233,http://localhost:8233"


@pytest.mark.parametrize("given", ["*", "localhost:8233", "http://localhost:8233/ui", "ftp://ui.example", ",", "http://:80"])
def test_something_that_is_not_an_origin_stops_the_process_naming_the_variable(monkeypatch, given):
    monkeypatch.setenv("FILINGS_CODEC_CORS_ORIGIN", given)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    message = str(stopped.value.code)
    assert "FILINGS_CODEC_CORS_ORIGIN" in message and "scheme://host[:port]" in message, message


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program (`make run`'s own codec server) is listening on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_beside_make_run_the_codec_server_names_the_busy_port_and_its_variable(held_port):
    done = subprocess.run([sys.executable, "-m", "engine.codec_server"], cwd=ROOT, env=codec_env(held_port),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(held_port) in lines[0] and "FILINGS_CODEC_PORT" in lines[0]


def test_without_keys_or_token_it_says_what_to_set_and_exits_1(tmp_path):
    (port,) = free_ports(1)
    no_token = codec_env(port)
    del no_token["FILINGS_CODEC_TOKEN"]
    no_keys = codec_env(port, FILINGS_DATA_DIR=str(tmp_path))
    del no_keys["FILINGS_PAYLOAD_KEYS"]
    for env, variable in ((no_token, "FILINGS_CODEC_TOKEN"), (no_keys, "FILINGS_PAYLOAD_KEYS")):
        done = subprocess.run([sys.executable, "-m", "engine.codec_server"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "Traceback" not in done.stderr and variable in done.stderr, done.stderr


async def test_the_standalone_server_answers_the_configured_origins(tmp_path):
    (port,) = free_ports(1)
    env = codec_env(port, FILINGS_CODEC_CORS_ORIGIN="https://ui.example.com,http://localhost:8080")
    with (tmp_path / "codec.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "engine.codec_server"], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
    try:
        async with aiohttp.ClientSession() as session:
            async def preflight(origin: str) -> str | None:
                async with session.options(f"http://127.0.0.1:{port}/decode",
                                           headers={"Origin": origin, **PREFLIGHT}) as answer:
                    return allowed(answer.headers)

            async def answering() -> bool:
                assert server.poll() is None, (tmp_path / "codec.log").read_text()
                try:
                    await preflight("http://localhost:8080")
                    return True
                except aiohttp.ClientConnectionError:
                    return False

            await wait_until(answering, 30, "the codec server listening")
            for origin in ("https://ui.example.com", "http://localhost:8080"):
                assert await preflight(origin) == origin
            assert await preflight("http://127.0.0.1:8233") is None  # the list replaces the default
    finally:
        server.terminate()
        try:
            await asyncio.to_thread(server.wait, 10)
        finally:
            kill_group(server)


def test_the_cli_guide_uses_the_codec_server_make_run_already_serves():
    """docs/cli.md once had users start a second codec server beside `make run`."""
    guide = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = guide.split("## The same with the official `temporal` CLI", 1)[1].split("\n## ", 1)[0]
    default_port = Settings().codec_port
    assert (f"TEMPORAL_CODEC_ENDPOINT=http://127.0.0.1:{default_port} "
            'TEMPORAL_CODEC_AUTH="Bearer $(cat .data/codec-token)"') in section
    before_starting_one = " ".join(section.split("python -m engine.codec_server", 1)[0].split())
    assert "Only without `make run`" in before_starting_one

