"""The compose stack's one-shot jobs and monitoring, run for real where this machine can:

- `deploy/temporal/setup-namespace.sh` with the `temporal` CLI against the dev server, on a
  namespace of its own, run again and again (it runs on every `docker compose up`);
- the alert rules' metric names against what a worker built by `engine.telemetry` exports;
- `deploy/postgres/init-roles.sh`, through `deploy/entrypoint.sh` and with the environment
  docker-compose.yml gives it, against a PostgreSQL from Debian's package that the tests
  start themselves: the roles over an operator's days, and the failures it must report.

What needs Docker itself (the images, the network, the schema job's temporal-sql-tool) is
not run here: docs/compose.md lists it."""

from __future__ import annotations

import asyncio
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from temporalio import activity, workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from engine.binaries import temporal_cli
from engine.settings import Settings
from engine.telemetry import build_runtime
from tests.conftest import unique
from tests.unit.compose_file import ROOT, SECRETS_DIR, environment, host_path, load, secret_files, secret_mounts
from tests.unit.test_compose import SPEC_SEARCH_ATTRIBUTES
from workflows import metrics as engine_metrics

pytestmark = pytest.mark.integration
DEPLOY = ROOT / "deploy"
BOUND = 30.0  # seconds anything here may take before the test fails


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the namespace job --------------------------------------------------------------------


def run_setup(address: str, namespace: str, retention: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FILINGS_"))}
    env |= {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": namespace, "NAMESPACE_RETENTION": retention,
            "PATH": f"{temporal_cli().parent}{os.pathsep}{env.get('PATH', '')}"}
    return subprocess.run(["sh", str(DEPLOY / "temporal" / "setup-namespace.sh")], env=env, capture_output=True,
                          text=True, timeout=120)


async def test_the_setup_job_converges_the_namespace_on_every_run(dev_env):
    address = dev_env.client.service_client.config.target_host
    namespace = unique("compose").replace("-", "_")

    async def retention() -> timedelta:
        described = await dev_env.client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        return described.config.workflow_execution_retention_ttl.ToTimedelta()

    for _ in range(2):  # the first `docker compose up`, then the next one
        done = await asyncio.to_thread(run_setup, address, namespace, "30d")
        assert done.returncode == 0, done.stdout + done.stderr
    assert await retention() == timedelta(days=30)
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))
    registered = {name: IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").title()
                  for name, kind in listed.custom_attributes.items()}
    assert registered == SPEC_SEARCH_ATTRIBUTES
    # The operators keep closed filings longer: NAMESPACE_RETENTION=45d and `up` again.
    done = await asyncio.to_thread(run_setup, address, namespace, "45d")
    assert done.returncode == 0, done.stdout + done.stderr
    assert await retention() == timedelta(days=45)


# --- the alert rules name metrics the workers really export ------------------------------------


@activity.defn(name="compose_probe_activity")
async def probe_activity() -> str:
    return "done"


@workflow.defn(name="ComposeProbe")
class ProbeWorkflow:
    """Runs an activity (schedule-to-start is recorded) and counts an SLA breach as the engine does."""

    @workflow.run
    async def run(self) -> str:
        engine_metrics.sla_breached("PLATFORM_REVIEW", "冀")
        return await workflow.execute_activity(probe_activity, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn(name="ComposeBroken")
class BrokenWorkflow:
    """A workflow task that fails every time, as a non-deterministic change would make it."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("this workflow task always fails")


def scrape(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {re.split(r"[{ ]", line, 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


async def test_every_metric_the_alerts_watch_is_exported_by_a_worker(dev_env, tmp_path):
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    expressions = "\n".join(rule["expr"] for group in rules["groups"] for rule in group["rules"])
    watched = set(re.findall(r"\b((?:temporal|filings)_\w+)\[", expressions))  # every range vector's metric
    assert len(watched) >= 4, watched

    settings = Settings(data_dir=tmp_path, http_host="127.0.0.1", metrics_port=free_port(), health_port=0)
    client = await Client.connect(dev_env.client.service_client.config.target_host, runtime=build_runtime(settings))
    task_queue = unique("alerts")
    worker = Worker(client, task_queue=task_queue, workflows=[ProbeWorkflow, BrokenWorkflow],
                    activities=[probe_activity], workflow_runner=UnsandboxedWorkflowRunner())
    async with worker:
        await client.execute_workflow(ProbeWorkflow.run, id=unique("probe"), task_queue=task_queue)
        broken = await client.start_workflow(BrokenWorkflow.run, id=unique("broken"), task_queue=task_queue)
        try:
            deadline = time.monotonic() + BOUND
            exported = await asyncio.to_thread(scrape, settings.metrics_port)
            while not watched <= exported and time.monotonic() < deadline:
                await asyncio.sleep(0.2)  # polling the endpoint for the failure to be counted
                exported = await asyncio.to_thread(scrape, settings.metrics_port)
        finally:
            await broken.terminate("test over")
    assert watched <= exported, f"alerts watch metrics no worker exports: {watched - exported}"


# --- PostgreSQL's roles -------------------------------------------------------------------------


@dataclass
class Postgres:
    """A private PostgreSQL on 127.0.0.1, password authentication only, superuser `postgres`."""

    port: int
    superuser_password: str

    def connect(self, user: str, password: str, database: str) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=user, password=password, dbname=database,
                               connect_timeout=5, autocommit=True)

    def superuser(self, database: str = "postgres") -> psycopg.Connection:
        return self.connect("postgres", self.superuser_password, database)


def postgres_binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail("PostgreSQL's server binaries are missing (/usr/lib/postgresql/*/bin): "
                    "`make system` installs Debian's postgresql package")
    return Path(found[-1]).parent


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """Started for the test and stopped after it, also when it fails. As root, the server runs as
    the `postgres` user the Debian package creates (it refuses to run as root)."""
    binaries = postgres_binaries()
    base = Path(tempfile.mkdtemp(prefix="compose-pg-"))
    as_postgres: list[str] = []
    password = uuid.uuid4().hex
    (base / "superuser").write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(base / "superuser", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = base / "data"
    try:
        subprocess.run([*as_postgres, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--no-sync",
                        f"--pwfile={base / 'superuser'}", "-A", "scram-sha-256"], check=True, capture_output=True)
        subprocess.run([*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w",
                        "-o", f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=60)
        yield Postgres(port, password)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def make_secrets(target: Path) -> Path:
    done = subprocess.run(["sh", str(DEPLOY / "make-secrets.sh"), str(target)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return target


def run_job(service_name: str, made: Path, run_dir: Path, command: list[str] | None = None,
            **overrides: str) -> subprocess.CompletedProcess[str]:
    """A compose service's container command, as compose starts it: its entrypoint and command
    (or `command` instead) with /deploy mounted from this repository, /run/secrets holding its
    declared secrets (from the operator's secrets directory `made`), its environment, and
    `overrides` standing in for the compose network (hosts and ports). The engine's image has no
    entrypoint (its settings read the secrets under FILINGS_SECRETS_DIR); the venv's bin stands
    in for the image's PATH."""
    compose = load()
    service = compose["services"][service_name]
    files = secret_files(compose)
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    for target, name in secret_mounts(service).items():
        (run_dir / target).write_bytes((made / files[name].name).read_bytes())
    env = {name: value.replace(SECRETS_DIR, str(run_dir)) for name, value in environment(service).items()}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**env, **overrides, "PATH": path, "PYTHONPATH": str(ROOT), "SECRETS_DIR": str(run_dir),
           "FILINGS_SECRETS_DIR": str(run_dir)}
    entrypoint = service.get("entrypoint") or []
    argv = [*entrypoint, *(command if command is not None else service.get("command", []))]
    argv = [str(host_path(service, part) or DEPLOY / part.removeprefix("/deploy/")) if part.startswith("/deploy/")
            else part for part in argv]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def roles(pg: Postgres) -> dict[str, dict[str, bool]]:
    with pg.superuser() as conn:
        rows = conn.execute("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                            "WHERE rolname IN ('temporal', 'filings', 'keycloak')").fetchall()
    return {name: {"super": s, "createdb": d, "createrole": r} for name, s, d, r in rows}


def owners(pg: Postgres) -> dict[str, str]:
    with pg.superuser() as conn:
        rows = conn.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE NOT datistemplate").fetchall()
    return dict(rows)


def refused(pg: Postgres, user: str, password: str, database: str) -> str:
    with pytest.raises(psycopg.OperationalError) as caught:
        pg.connect(user, password, database).close()
    return str(caught.value)


#: A first write as the registry's processes make it: on FILINGS_REGISTRY_URL, which holds no
#: password (the settings add FILINGS_REGISTRY_PASSWORD, read from its mounted secret file).
REGISTRY_PROBE = """
import os, sys
from sqlalchemy import create_engine, text
from engine.settings import load_settings
assert not any(os.environ.get(name) for name in ("PGPASSWORD", "FILINGS_REGISTRY_PASSWORD"))
engine = create_engine(load_settings().registry_database_url, connect_args={"connect_timeout": 5})
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE IF NOT EXISTS day_log (day int)"))
    conn.execute(text("INSERT INTO day_log VALUES (:day)"), {"day": int(sys.argv[1])})
    print(conn.execute(text("SELECT string_agg(day::text, ',' ORDER BY day) FROM day_log")).scalar())
"""


def registry_probe(day: int) -> list[str]:
    return ["python", "-c", REGISTRY_PROBE, str(day)]


def test_the_roles_over_an_operators_days(postgres, tmp_path):
    pg = postgres
    network = {"PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "INIT_WAIT_SECONDS": "10"}
    secrets = tmp_path / "secrets"
    # Day 1: the operator creates the secrets; the database's superuser password is the one
    # this server was initialised with (in compose, both come from ./secrets/postgres_password).
    make_secrets(secrets)
    os.chmod(secrets / "postgres_password", 0o644)
    (secrets / "postgres_password").write_text(pg.superuser_password + "\n")
    # `docker compose up`: the init job, then the registry's migrations as `filings`.
    done = run_job("postgres-init", secrets, tmp_path / "run", **network)
    assert done.returncode == 0, done.stderr
    assert roles(pg) == {name: {"super": False, "createdb": False, "createrole": False}
                         for name in ("temporal", "filings", "keycloak")}
    assert {db: owner for db, owner in owners(pg).items() if db != "postgres"} == {
        "temporal": "temporal", "temporal_visibility": "temporal", "filings": "filings", "keycloak": "keycloak"}
    temporal_password = (secrets / "temporal_db_password").read_text().strip()
    filings_password = (secrets / "filings_db_password").read_text().strip()
    with pg.connect("temporal", temporal_password, "temporal_visibility") as conn:
        # What Temporal's visibility schema does (v1.2): btree_gin only when missing; tables.
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'btree_gin') "
                     "THEN CREATE EXTENSION btree_gin; END IF; END $$")
        conn.execute("CREATE TABLE executions_visibility_probe (namespace_id CHAR(64), start_time TIMESTAMP)")
        conn.execute("CREATE INDEX probe_gin ON executions_visibility_probe USING GIN (namespace_id, start_time)")
    assert "permission denied for database" in refused(pg, "filings", filings_password, "temporal")
    assert "permission denied for database" in refused(pg, "temporal", temporal_password, "filings")
    # Keycloak's own database, as its KC_DB_USERNAME and the password of its secret; no other one.
    keycloak_password = (secrets / "keycloak_db_password").read_text().strip()
    with pg.connect("keycloak", keycloak_password, "keycloak") as conn:
        conn.execute("CREATE TABLE realm_probe (id text)")
    assert "permission denied for database" in refused(pg, "keycloak", keycloak_password, "filings")
    assert "permission denied for database" in refused(pg, "filings", filings_password, "keycloak")

    def registry_writes(day: int) -> str:
        """The registry-migrate container's environment and secrets, running a first write."""
        done = run_job("registry-migrate", secrets, tmp_path / "run-registry", command=registry_probe(day),
                       FILINGS_REGISTRY_URL=f"postgresql+psycopg://filings@127.0.0.1:{pg.port}/filings")
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert registry_writes(1) == "1"

    # Day 2: the host rebooted, `docker compose up` again: the job changes nothing, data stays.
    done = run_job("postgres-init", secrets, tmp_path / "run", **network)
    assert done.returncode == 0, done.stderr
    assert registry_writes(2) == "1,2"

    # Day 30: the registry's password is rotated (delete the file, make-secrets again, up).
    (secrets / "filings_db_password").unlink()
    make_secrets(secrets)
    rotated = (secrets / "filings_db_password").read_text().strip()
    assert rotated != filings_password
    done = run_job("postgres-init", secrets, tmp_path / "run", **network)
    assert done.returncode == 0, done.stderr
    assert "password authentication failed" in refused(pg, "filings", filings_password, "filings")
    assert registry_writes(30) == "1,2,30"  # the new password works, nothing was lost
    with pg.connect("temporal", temporal_password, "temporal") as conn:  # the other role is untouched
        assert conn.execute("SELECT current_user").fetchone() == ("temporal",)


def test_a_missing_role_password_stops_the_job_before_anything_is_created(postgres, tmp_path):
    secrets = make_secrets(tmp_path / "secrets")
    os.chmod(secrets / "postgres_password", 0o644)
    (secrets / "postgres_password").write_text(postgres.superuser_password + "\n")
    (secrets / "filings_db_password").unlink()
    (secrets / "filings_db_password").write_text("")  # an operator's empty file
    done = run_job("postgres-init", secrets, tmp_path / "run", PGHOST="127.0.0.1", PGPORT=str(postgres.port))
    assert done.returncode != 0
    assert "FILINGS_DB_PASSWORD_FILE" in done.stderr and "is empty" in done.stderr
    assert roles(postgres) == {} and set(owners(postgres)) == {"postgres"}


def test_the_job_gives_up_clearly_when_postgresql_never_answers(tmp_path):
    # The outside part fails for good: nothing listens where PostgreSQL should be.
    secrets = make_secrets(tmp_path / "secrets")
    port = free_port()
    started = time.monotonic()
    done = run_job("postgres-init", secrets, tmp_path / "run", PGHOST="127.0.0.1", PGPORT=str(port),
                   INIT_WAIT_SECONDS="2")
    assert done.returncode == 1 and time.monotonic() - started < BOUND
    assert f"PostgreSQL at 127.0.0.1:{port} did not accept connections in 2s" in done.stderr
