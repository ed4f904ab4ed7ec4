"""The soak with chaos (`bench/soak.py`) at CI size: 40 filings over every scripted path on
three worker processes sharing one data dir, one worker SIGKILLed (a random one, replaced)
and one server restart; nothing lost, nothing applied or sent twice.

The full size runs on demand:
`.venv/bin/python -m bench.soak --filings 1000 --kills 3 --restarts 1 --workers 3`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.soak import SCRIPTS, SoakConfig, run_soak

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(480)]


async def test_small_soak_on_three_workers_with_a_kill_and_a_restart_loses_and_repeats_nothing(tmp_path):
    report = await run_soak(SoakConfig(filings=40, kills=1, restarts=1, workers=3, sms_window=timedelta(seconds=10),
                                       workdir=tmp_path, timeout=240))
    assert (report.lost, report.duplicated) == (0, 0), report.problems
    assert (report.filings, report.workers, report.kills, report.restarts) == (40, 3, 1, 1)
    assert set(report.by_script) == {s.name for s in SCRIPTS}
    assert report.workflows > 40 and "none" not in report.final_stages  # the cancellations filed too
    assert report.stray_effects == 0 and report.codes_checked == report.sms_sent
    assert all(sum(v for k, v in w.items() if k not in ("event", "progress")) > 0 for w in report.waiting_at_chaos), \
        "chaos struck while filings were waiting"
