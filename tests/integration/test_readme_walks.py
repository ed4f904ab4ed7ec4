"""The README's walks, run as written, twice in a row: the ```sh blocks of "Drive a filing end
to end" that use `filings wait` (the CLI walk and the curl walk) are taken from README.md and
pasted into one bash, in a directory laid out as a checkout after `make run` (`.venv`, `.data`),
against `make run`'s stack (`python -m engine.run_local`) the test starts. Each walk files a new
mini-program of the example company: the first is a new subject (…号-1X), every later one is
numbered under it by `next-number` (-2X, -3X, -4X), and the curl walk ends with a cancellation
request. A second run of the same text must work as the first did."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.test_run_local import ROOT, LocalRun
from tests.processes import free_ports

#: Two walks of ~26 `filings`/curl commands each, a Python start per `filings` (about a minute on
#: a quiet 2-core machine): slow, started first.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(480)]
SUBJECT = "冀ICP备18021892号"


def walks() -> str:
    """The README's walk blocks, in their order, as one paste."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    chosen = [block for block in blocks if "filings wait" in block]
    assert len(chosen) == 2, f"expected the CLI and the curl walk, found {len(chosen)}"
    return "\n".join(chosen)


async def test_the_readme_cli_and_curl_walks_work_twice_in_a_row(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(ROOT / ".venv")
    server, ui, metrics, health, codec, api = free_ports(6)
    run = LocalRun(checkout / ".data", f"127.0.0.1:{server}", f"http://127.0.0.1:{ui}",
                   f"http://127.0.0.1:{metrics}/metrics", health, codec, api)
    # The person's shell: the README's defaults (`.data` in the checkout), the service's address.
    # No COLUMNS/LINES: a shell does not export them, and pytest-xdist's workers have them (80x24),
    # which made every piped table 80 columns wide under `-n 2`.
    shell_env = {k: v for k, v in run.env.items() if k not in ("FILINGS_DATA_DIR", "COLUMNS", "LINES")} | {
        "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    script = "set -eo pipefail\n" + walks()
    try:
        await run.start()
        for walk in (1, 2):
            done = await asyncio.to_thread(
                subprocess.run, ["bash", "-c", script], cwd=checkout, env=shell_env, capture_output=True,
                text=True, timeout=240)
            assert done.returncode == 0, f"walk {walk} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            assert f"{SUBJECT}-{2 * walk - 1}X" in done.stdout and f"{SUBJECT}-{2 * walk}X" in done.stdout
            assert '"applied":true' in done.stdout.replace(" ", "")  # the curl walk's decisions
        # Piped, a table keeps its full values (rich cut them to 80 columns); a filing outside the
        # applicant's token is named as such, not as "no filing".
        after = await asyncio.to_thread(subprocess.run, ["bash", "-c", (
            "source .venv/bin/activate; filings lookup --subject 示例网络 --cancelled | cat; "
            "filings status wx00000000000000ff --as applicant")], cwd=checkout, env=shell_env, capture_output=True,
            text=True, timeout=60)
        for n in range(1, 5):
            assert f"{SUBJECT}-{n}X" in after.stdout, after.stdout
        assert "河北示例网络科技有限公司" in after.stdout
        assert "filing-wx00000000000000ff is outside your token" in after.stderr, after.stderr
        assert "filings login --role applicant --appid wx00000000000000ff" in after.stderr
        async with httpx.AsyncClient(base_url=run.api_url, timeout=30) as http:
            found = (await http.get("/v1/registry", params={"number": SUBJECT, "include_cancelled": "true"})).json()
        assert sorted(entry["service_number"] for entry in found) == [f"{SUBJECT}-{n}X" for n in range(1, 5)]
        assert {entry["subject_name"] for entry in found} == {"河北示例网络科技有限公司"}
    finally:
        if run.process is not None:
            await run.stop()
