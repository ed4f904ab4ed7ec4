"""Secrets as files (compose `secrets:`, a Kubernetes secret volume): the settings read them
from FILINGS_SECRETS_DIR themselves (pydantic-settings' nested secrets source), so no shell
entrypoint copies them into the environment, where `docker exec … env` and
/proc/<pid>/environ would show them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.keys import Keyring
from engine.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-never-in-the-environment"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("FILINGS_", "TEMPORAL_", "AWS_", "PG")):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    """A mounted secrets directory, as compose fills it with `target:` names."""
    where = tmp_path / "run-secrets"
    where.mkdir()
    (where / "filings_payload_keys").write_text(json.dumps(Keyring.generate("k7").dump()) + "\n")
    (where / "FILINGS_CODEC_TOKEN").write_text(SECRET + "\n")  # any case, trailing newline dropped
    (where / "filings_s3__secret_access_key").write_text("s3-" + SECRET)  # a nested setting
    (where / "filings_registry_password").write_text("pw/" + SECRET)
    (where / "temporal_api_key").write_text("api-" + SECRET)  # an alias without the prefix
    (where / "unrelated").write_text("ignored")
    return where


def test_each_secret_file_is_read_as_the_setting_it_is_named_after(secrets, monkeypatch, tmp_path):
    monkeypatch.setenv("FILINGS_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("FILINGS_REGISTRY_URL", "postgresql+psycopg://filings@db:5432/filings")
    monkeypatch.setenv("FILINGS_S3__BUCKET", "scans")  # the environment and the files make one nested setting
    s = load_settings(data_dir=tmp_path)
    assert s.payload_keyring().current == "k7"
    assert s.codec_token is not None and s.codec_token.get_secret_value() == SECRET
    assert s.s3.bucket == "scans" and s.s3.secret_access_key is not None
    assert s.s3.secret_access_key.get_secret_value() == "s3-" + SECRET
    assert s.temporal_api_key is not None and s.temporal_api_key.get_secret_value() == "api-" + SECRET
    assert s.registry_database_url == f"postgresql+psycopg://filings:pw%2F{SECRET}@db:5432/filings"
    from registry.database import describe

    assert SECRET not in describe(s.registry_database_url)  # how messages name the database
    # A variable, when also set, wins over the file.
    monkeypatch.setenv("FILINGS_CODEC_TOKEN", "from-env")
    assert load_settings(data_dir=tmp_path).codec_token.get_secret_value() == "from-env"  # type: ignore[union-attr]


def test_without_the_directory_there_are_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("FILINGS_SECRETS_DIR", str(tmp_path / "absent"))
    s = load_settings(data_dir=tmp_path)
    assert s.codec_token is None and s.registry_database_url == f"sqlite:///{tmp_path / 'registry.db'}"


def test_a_bad_secret_file_stops_the_process_naming_the_variable_not_the_value(secrets, monkeypatch, tmp_path):
    (secrets / "filings_payload_keys").write_text("not json " + SECRET)
    monkeypatch.setenv("FILINGS_SECRETS_DIR", str(secrets))
    with pytest.raises(SystemExit) as stopped:
        load_settings(data_dir=tmp_path)
    assert "FILINGS_PAYLOAD_KEYS" in str(stopped.value.code) and SECRET not in str(stopped.value.code)


def test_a_secret_read_from_a_file_never_enters_the_environment(secrets, tmp_path):
    """The process as the image starts it (no entrypoint script): its settings hold the secrets,
    its environment (and so /proc/<pid>/environ, `docker exec … env`, its children) none."""
    probe = ("import os, subprocess, sys; from engine.settings import load_settings; s = load_settings()\n"
             "assert s.codec_token.get_secret_value() == sys.argv[1]\n"
             "print(open('/proc/self/environ', 'rb').read().decode())\n"
             "print(subprocess.run(['env'], capture_output=True, text=True).stdout)\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "FILINGS_SECRETS_DIR": str(secrets),
           "FILINGS_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe, SECRET], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "FILINGS_SECRETS_DIR" in done.stdout  # the probe did read its environment
    assert SECRET not in done.stdout
