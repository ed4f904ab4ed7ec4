"""The `filings` tool's pure helpers: what people type, what is shown, which Idempotency-Key a
call carries, which token it presents, and how the service's answers become exit statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cli import parsing
from cli.options import CliError
from cli.privacy import shown, value_at
from cli.render import deadline_text
from engine.visibility import build_query
from filing.messages import Stage
from filing.models import FilingKind

APPID = "wx1234567890abcdef"


@pytest.mark.parametrize("given", [APPID, f"filing-{APPID}", f"  {APPID} "])
def test_a_filing_id_or_a_bare_appid_names_the_workflow(given):
    assert parsing.filing_id(given) == f"filing-{APPID}"


@pytest.mark.parametrize(
    "given", ["", "wx123", "filing-", "filing-wx1234567890ABCDEF", "wx1234567890abcdeg", "x" + APPID]
)
def test_anything_else_is_not_a_filing_id(given):
    with pytest.raises(CliError, match="is not a filing id"):
        parsing.filing_id(given)


def test_a_reason_is_field_error_and_an_optional_suggestion():
    assert parsing.reason("subject.address:地址不详细").model_dump() == {
        "field": "subject.address",
        "error": "地址不详细",
        "suggestion": None,
    }
    r = parsing.reason("subject.name:与证件不符:请按营业执照填写: 全称")
    assert (r.field, r.error, r.suggestion) == ("subject.name", "与证件不符", "请按营业执照填写: 全称")
    assert parsing.reason("a:b:").suggestion is None


@pytest.mark.parametrize("given", ["subject.address", ":no field", "field:", "  :  ", "subject.address：全角冒号"])
def test_a_malformed_reason_is_refused(given):
    with pytest.raises(CliError, match="FIELD:ERROR"):
        parsing.reason(given)


def test_a_reject_needs_a_reason():
    with pytest.raises(CliError, match=r"at least one --reason.*nothing was sent"):
        parsing.reasons([])
    with pytest.raises(CliError, match="reason 'f:"):
        parsing.reasons(["f:" + "x" * 1001])


def test_filing_numbers_are_checked_as_mini_program_numbers():
    assert parsing.filing_number("冀ICP备18021892号-2X").province.prefix == "冀"
    for bad in ("冀ICP备1802189号-1X", "冀ICP备18021892号-1", "火ICP备18021892号-1X"):
        with pytest.raises(CliError, match="malformed filing number"):
            parsing.filing_number(bad)


def test_provinces_by_prefix_alias_or_name():
    assert [parsing.province_prefix(p) for p in ("冀", "河北", "河北省", "川")] == ["冀", "冀", "冀", "蜀"]
    with pytest.raises(CliError, match="unknown province"):
        parsing.province_prefix("火星")


def test_sms_entries_say_what_is_wrong():
    assert parsing.sms_entry("13800138000", "123456", "12345X").code == "123456"
    with pytest.raises(CliError, match="6 digits"):
        parsing.sms_entry("13800138000", "12345", "12345X")
    with pytest.raises(CliError, match=r"11-digit.*last 6 characters"):
        parsing.sms_entry("1380013800", "123456", "1234")


def test_personal_values_are_masked_unless_revealed():
    doc = {
        "subject": {"type": "PERSONAL", "name": "张三", "address": {"detail": "示例路1号"}},
        "subject_principal": {
            "mobile": "13800138000",
            "name": "张三",
            "email": "z@example.com",
            "identity_document": {"number": "130102199003071234"},
        },
        "mini_program": {"service_categories": ["新闻"]},
    }
    assert value_at(doc, "mini_program.service_categories[0]") == "新闻"
    assert value_at(doc, "mini_program.pre_approvals[0].category") is None
    masked = {
        p: shown(p, value_at(doc, p), reveal=False, personal_subject=True)
        for p in (
            "subject_principal.mobile",
            "subject_principal.name",
            "subject_principal.email",
            "subject.name",
            "subject_principal.identity_document.number",
            "subject.address.detail",
            "mini_program.service_categories[0]",
        )
    }
    assert masked == {
        "subject_principal.mobile": "138****8000",
        "subject_principal.name": "张*",
        "subject_principal.email": "***",
        "subject.name": "张*",
        "subject_principal.identity_document.number": "13**************34",
        "subject.address.detail": "*****",
        "mini_program.service_categories[0]": "新闻",
    }
    assert shown("subject_principal.mobile", "13800138000", reveal=True) == "13800138000"
    assert shown("subject.name", "示例公司", reveal=False, personal_subject=False) == "示例公司"


def test_deadlines_read_as_the_end_of_a_china_day_with_a_provisional_mark():
    midnight = datetime(2025, 10, 10, 16, 0, tzinfo=UTC)  # 2025-10-11 00:00 in China
    assert deadline_text(midnight, False) == "2025-10-10 24:00（北京时间）"
    assert deadline_text(midnight + timedelta(minutes=90), True) == "2025-10-11 01:30（北京时间） (provisional)"
    assert deadline_text(None, False) == "-"


def test_visibility_queries_are_scoped_and_filtered():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    # A run a filing continued from keeps its old stage: a list never shows it (issue 18.15).
    assert build_query("tq") == (
        "WorkflowType = 'FilingWorkflow' AND TaskQueue = 'tq' AND ExecutionStatus != 'ContinuedAsNew'")
    assert build_query("tq", running=True).endswith(" AND ExecutionStatus = 'Running'")
    query = build_query(
        "t'q",
        stages=[Stage.RETURNED, Stage.PLATFORM_REVIEW],
        provinces=["冀"],
        kinds=[FilingKind.NEW],
        overdue=True,
        provisional=True,
        now=now,
    )
    assert query == (
        "WorkflowType = 'FilingWorkflow' AND TaskQueue = 't\\'q' AND FilingStage IN ('PLATFORM_REVIEW', 'RETURNED')"
        " AND Province = '冀' AND FilingKind = 'NEW' AND ExecutionStatus = 'Running'"
        " AND (SlaBreached = true OR StageDeadline < '2026-01-02T03:04:05Z') AND DeadlineProvisional = true"
    )
