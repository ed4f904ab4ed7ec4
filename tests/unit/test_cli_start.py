"""`filings` starts many times a minute (a reviewer's shell, the README's walks, scripts): a
command that talks to the filing service, and `--help`, load neither the Temporal SDK nor the
workflows, activities, adapters or registry (issue 21: each start cost ~1 s of imports, the
SDK's protobufs and the workflow sandbox's modules among them). Direct mode loads them when
it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.processes import free_ports

ROOT = Path(__file__).resolve().parents[2]
#: What only direct mode (Temporal, the operator's keys) or the operator's registry commands need.
DIRECT_ONLY = ("temporalio", "workflows", "activities", "adapters", "registry", "sqlalchemy", "boto3")
#: What only the commands that check or start applications need (R1–R10, the material checks).
NOT_AT_START = ("engine.batch", "engine.checks", "filing.materials", "filing.rules")

PROBE = r"""
import json, sys
from typer.testing import CliRunner
from cli.app import app

runner = CliRunner()
NOT_AT_START = json.loads(sys.argv[2])
results = {}
for name, args in (("help", ["--help"]), ("status_help", ["status", "--help"]),
                   ("status", ["status", "wx00000000000000a1", "--api-url", sys.argv[1], "--token", "t"]),
                   ("queue", ["platform", "queue", "--api-url", sys.argv[1], "--token", "t"])):
    done = runner.invoke(app, args)
    results[name] = {"code": done.exit_code, "output": done.output,
                     "loaded": sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in sys.argv[3:]}),
                     "start_only": sorted(m for m in NOT_AT_START if m in sys.modules)}
print(json.dumps(results))
"""


def test_help_and_the_services_commands_start_without_the_sdk_or_the_workflows(tmp_path: Path) -> None:
    (closed,) = free_ports(1)  # nothing listens: the commands fail to connect, after their imports
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "200"}
    env.pop("FILINGS_MODE", None)
    env.pop("FILINGS_TOKEN", None)
    done = subprocess.run([sys.executable, "-c", PROBE, f"http://127.0.0.1:{closed}", json.dumps(NOT_AT_START),
                           *DIRECT_ONLY], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["help"]["code"] == 0 and "platform" in results["help"]["output"]
    assert results["status_help"]["code"] == 0 and "--direct" in results["status_help"]["output"]
    for command in ("status", "queue"):  # ran as far as the service's address: refused, and said so
        assert results[command]["code"] == 1 and "cannot reach the filing service" in results[command]["output"]
    assert {name: r["loaded"] for name, r in results.items()} == {name: [] for name in results}
    assert {name: r["start_only"] for name, r in results.items()} == {name: [] for name in results}
