"""The log pipeline: bound context on every line, the SDK's details renamed to the
engine's, and the masking safety net (with no false alarms on the engine's own ids)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from engine.logs import mask_personal_data
from tests.logging_state import EngineLogs


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to 13812345678.", "to 138****5678."),
        ("+8613812345678 and 86-13912345678", "+86138****5678 and 86-139****5678"),
        ("手机号13800138000不正确", "手机号138****8000不正确"),
        ("id 11010519491231002X ok", "id 11**************2X ok"),
        ("id 110105194912310021,", "id 11**************21,"),
    ],
)
def test_mobiles_and_identity_numbers_are_masked(text, masked):
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "冀ICP备18021892号-2X",  # a filing number
        "filing-wx1234567890abcdef",  # a filing id
        "01a22450-f64c-7193-a80a-03394b1fbd01",  # a run id
        "2026-11-28T22:40:15.479003Z",
        "ticket PR-EEE9BF8BCC, 1732800000000 ms, 12345678901234",  # epoch millis, long numbers
        "91110000100000000X9",  # 19 characters: not an identity number
    ],
)
def test_the_engines_own_values_are_left_alone(text):
    assert mask_personal_data(text) == text


@pytest.fixture
def json_lines(engine_logs: Callable[..., EngineLogs]) -> Callable[[], list[dict[str, Any]]]:
    return engine_logs("json").lines


def test_lines_carry_the_bound_context_and_no_personal_data(json_lines):
    with structlog.contextvars.bound_contextvars(filing_id="filing-wx1", stage="PLATFORM_REVIEW", attempt=2):
        structlog.get_logger("sms").info("sms_sent", to="13812345678")
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed: id 110105194912310021",
            extra={"temporal_activity": {"workflow_id": "filing-wx1", "activity_type": "notify", "attempt": 3}},
        )
    logging.getLogger("temporalio.workflow").info(
        "filing sms_wrong_code: 13912345678",
        extra={"temporal_workflow": {"workflow_id": "filing-wx2", "run_id": "r-1", "attempt": 1, "namespace": "n"},
               "stage": "SMS_VERIFICATION", "attempt": 1},
    )
    sms, failed, wf = json_lines()
    assert (sms["filing_id"], sms["stage"], sms["attempt"], sms["to"]) == ("filing-wx1", "PLATFORM_REVIEW", 2, "138****5678")
    assert (failed["filing_id"], failed["stage"], failed["attempt"]) == ("filing-wx1", "PLATFORM_REVIEW", 2)
    assert (failed["activity"], failed["activity_attempt"]) == ("notify", 3)
    assert "110105194912310021" not in failed["event"]
    assert (wf["filing_id"], wf["run_id"], wf["stage"], wf["attempt"]) == ("filing-wx2", "r-1", "SMS_VERIFICATION", 1)
    assert wf["event"] == "filing sms_wrong_code: 139****5678" and "namespace" not in wf


def _fail_holding(application: dict[str, str], token: str) -> None:
    """A frame whose locals hold personal data and a token, as a route's frames do."""
    raise ValueError("Out of range float values are not JSON compliant")


@pytest.fixture
def console_text(engine_logs: Callable[..., EngineLogs]) -> Callable[[], str]:
    return engine_logs("console").text


SECRET_LOCALS = {"name": "欧阳泄漏", "email": "leak-locals@example.com", "address": "泄漏路9号"}
TOKEN = "eyJhbGciOi.secret-claims-part.signature-part"  # passed by name: a source line shows no value


def _log_failures() -> None:
    """One failure through the standard library (as uvicorn logs it), one through structlog."""
    for log in (logging.getLogger("uvicorn.error").exception, structlog.get_logger("service").exception):
        try:
            _fail_holding(SECRET_LOCALS, token=TOKEN)
        except ValueError:
            log("Exception in ASGI application")


def test_json_lines_carry_a_structured_traceback_without_locals(json_lines):
    _log_failures()
    lines = json_lines()
    assert len(lines) == 2
    for line in lines:
        (raised,) = line["exception"]
        assert raised["exc_type"] == "ValueError" and "_fail_holding" in [f["name"] for f in raised["frames"]]
        assert all("locals" not in frame for frame in raised["frames"])
        text = json.dumps(line, ensure_ascii=False)
        assert not [v for v in [*SECRET_LOCALS.values(), "secret-claims-part"] if v in text], text


def test_console_tracebacks_show_no_locals(console_text):
    _log_failures()
    text = console_text()
    assert text.count("Traceback") == 2 and "_fail_holding" in text
    assert not [v for v in [*SECRET_LOCALS.values(), "secret-claims-part"] if v in text], text
