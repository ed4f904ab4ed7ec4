"""Bad input at volume (hypothesis): any application or message is either accepted as valid
or rejected with field-named errors; no other exception, ever; nothing is started for a
rejected one.

Inputs are random JSON of every shape and, more telling, valid documents with one part
broken: a value replaced by random JSON or by a near-miss string (dates at the calendar's
ends with odd offsets, digits, ID-like strings), a key removed, an unknown key added.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from adapters.materials_local import FileMaterialStore
from engine.batch import launch_file
from engine.sealing import Sealer
from filing.examples import example_materials
from filing.ports import MaterialOwner
from registry.migrate import upgrade
from registry.sql_registry import SqlRegistry
from tests.conftest import TEST_KEYS
from engine.settings import Settings
from filing.examples import example_application
from filing.messages import (
    CalendarUpdated,
    PlatformDecision,
    ProvinceDecision,
    Resubmission,
    SmsCodeEntry,
    SmsResendRequest,
    WithdrawRequest,
)
from filing.models import Application
from filing.preapproval import load_preapproval_categories
from filing.rules import parse_application
from filing.state import FilingInput
from workflows.support import schema_errors as _schema_errors

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CATEGORIES = frozenset(load_preapproval_categories())
EXAMPLE = example_application(NOW).model_dump(mode="json")
EXAMPLE_TWO = example_application(NOW, own_mini_program_principal=True).model_dump(mode="json")
FIELDS = tuple(Application.model_fields)
# One material store holding the example's scans and one empty registry for every example.
_SCRATCH = tempfile.TemporaryDirectory()
STORE = FileMaterialStore(Path(_SCRATCH.name), TEST_KEYS.payload)
for _content in example_materials().values():
    asyncio.run(STORE.put(_content, MaterialOwner.imported("tests")))
upgrade(f"sqlite:///{_SCRATCH.name}/registry.db")
REGISTRY = SqlRegistry(f"sqlite:///{_SCRATCH.name}/registry.db", Sealer(TEST_KEYS.payload))

KEY = re.compile(r"^(schema\.[a-z_]+|R[1-9][0-9]?\.[a-z0-9_]+)$")
PROFILE = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ------------------------------------------------------------------

_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
near_misses = st.one_of(
    st.datetimes(timezones=st.none() | _offsets).map(datetime.isoformat),  # year 1 .. 9999, any offset
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["LONG_TERM", "长期", "", " ", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                     "9999-12-31", "2026-02-30", "13800138000", "1380013800", "11010519491231002X",
                     "91130000EXAMPLE01X", "冀ICP备18021892号-2X", "wx1234567890abcdef", "河北省", "火星"]),
    st.text(alphabet="0123456789Xx-:+TZ ", max_size=24),
    st.integers(min_value=-(2**70), max_value=2**70),
)
#: Dates and instants, the calendar's ends included (with an offset, they have no UTC equivalent).
instants = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31", "0001-01-01",
                     "9999-12-31T23:59:59Z", "LONG_TERM"]),
    st.datetimes(timezones=st.none() | _offsets).map(datetime.isoformat),
    st.dates().map(lambda d: d.isoformat()),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | near_misses,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """`valid` with one to three parts broken."""
    document = json.loads(json.dumps(valid))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        if not paths:
            return draw(json_values)
        *parent_path, last = draw(st.sampled_from(paths))
        parent = document
        for step in parent_path:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "near_miss", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
        else:
            parent[last] = draw(near_misses if action == "near_miss" else json_values)
    return document


#: Where the rules do date and time arithmetic: each gets near-miss values on its own.
DATE_FIELDS = [("mini_program_principal", "face_verification", "verified_at"),
               ("subject_principal", "identity_document", "valid_until"),
               ("subject", "unit_certificate", "valid_until")]


@st.composite
def dated(draw: st.DrawFn, valid: Any) -> Any:
    document = json.loads(json.dumps(valid))
    *parents, last = draw(st.sampled_from(DATE_FIELDS))
    target = document
    for step in parents:
        target = target[step]
    target[last] = draw(instants)
    return document


applications = st.one_of(json_values, mutated(EXAMPLE), mutated(EXAMPLE_TWO), dated(EXAMPLE), st.just(EXAMPLE))

VALID_MESSAGES: dict[type[BaseModel], dict[str, Any]] = {
    PlatformDecision: {"decision": "reject", "reviewer": "r-01", "reasons": [{"field": "subject.name", "error": "x"}],
                       "attempt": 1},
    ProvinceDecision: {"decision": "approve", "reviewer": "冀-07", "filing_number": "冀ICP备18021892号-2X", "attempt": 2},
    SmsCodeEntry: {"mobile": "13800138000", "code": "123456", "id_last6": "12345X"},
    SmsResendRequest: {"mobile": "13800138000"},
    Resubmission: {"application": EXAMPLE},
    WithdrawRequest: {"reason": "不再需要"},
    CalendarUpdated: {},
    FilingInput: {"application": EXAMPLE, "submission_id": "sub-1", "policy": {"sms_window": "PT24H"}},
}
messages = st.sampled_from(sorted(VALID_MESSAGES, key=lambda m: m.__name__)).flatmap(
    lambda model: st.tuples(st.just(model), st.one_of(json_values, mutated(VALID_MESSAGES[model]),
                                                      st.just(VALID_MESSAGES[model])))
)

# --- the application ---------------------------------------------------------------


def assert_field_named(violations: list[Any]) -> None:
    for v in violations:
        top = v.field.split(".")[0].split("[")[0]
        # An unknown key is named by its own path; every other error by a field of the application.
        assert v.field and (v.field == "application" or top in FIELDS or v.key == "schema.extra_forbidden"), v
        assert KEY.match(v.key), v.key
        assert v.message_en.strip() and v.message_zh.strip(), v


@PROFILE
@given(applications)
def test_any_application_is_accepted_or_rejected_field_by_field(document: Any):
    application, violations = parse_application(document, NOW, categories=CATEGORIES)
    assert application is not None or violations, "a refusal names at least one field"
    assert_field_named(violations)
    if application is not None and not violations:  # valid: it is the same application again
        again, more = parse_application(application.model_dump(mode="json"), NOW, categories=CATEGORIES)
        assert again == application and more == []


@PROFILE
@given(st.one_of(applications.map(lambda d: json.dumps(d, ensure_ascii=False)), st.text(max_size=200),
                 st.binary(max_size=200)))
def test_any_application_file_content_is_accepted_or_rejected_field_by_field(text: str | bytes):
    application, violations = parse_application(text, NOW, categories=CATEGORIES)
    assert application is not None or violations
    assert_field_named(violations)


class NoStart:
    """A client that records any start: for a rejected file there must be none."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def start_workflow(self, *args: Any, id: str, **kwargs: Any) -> Any:
        self.started.append(id)
        return type("Handle", (), {"id": id})()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(applications.map(lambda d: json.dumps(d, ensure_ascii=False).encode()), st.binary(max_size=100)))
def test_nothing_is_started_for_a_rejected_file(content: bytes):
    client = NoStart()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "application.json"
        path.write_bytes(content)
        result = asyncio.run(launch_file(client, Settings(data_dir=Path(scratch), task_queue="tq"), path,  # type: ignore[arg-type]
                                         store=STORE, registry=REGISTRY))
    if result.outcome in ("rejected", "unreadable"):
        assert client.started == [], "a rejected file started a filing"
        assert result.violations or result.error
        assert_field_named(result.violations)
    else:
        assert result.outcome == "started" and client.started == [result.filing_id]


# --- every message ---------------------------------------------------------------------


@PROFILE
@given(messages)
def test_any_message_is_valid_or_a_validation_error(case: tuple[type[BaseModel], Any]):
    model, payload = case
    try:
        model.model_validate(payload)
    except ValidationError as err:
        assert all(isinstance(e["loc"], tuple) for e in err.errors())


@PROFILE
@given(st.one_of(messages.map(lambda c: (c[0], json.dumps(c[1], ensure_ascii=False).encode())),
                 st.tuples(st.sampled_from(list(VALID_MESSAGES)), st.binary(max_size=80))))
def test_any_message_payload_decodes_or_is_refused_naming_its_fields(case: tuple[type[BaseModel], bytes]):
    """What the workflow does with a signal or update payload (`_parse`/`_decode`): decode with
    the payload converter; only the errors it turns into a field-named refusal may come out."""
    model, data = case
    payload = pydantic_data_converter.payload_converter.to_payloads([{}])[0]  # json/plain, as the CLI sends
    payload.data = data
    try:
        pydantic_data_converter.payload_converter.from_payload(payload, model)
    except (ValidationError, ValueError, TypeError) as err:
        message = _schema_errors(err)
        assert message.strip()
        if isinstance(err, ValidationError):
            first = err.errors()[0]
            assert f"{'.'.join(map(str, first['loc'])) or '-'}: " in message
