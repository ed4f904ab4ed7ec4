"""The review page's 前置审批提示 block, rendered without a browser: shown with each hit's
Chinese field label when the API's application read carries screen flags, absent otherwise
(also for a cancellation, which has no mini-program form)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request

from filing.examples import example_application, example_preapproval_document
from filing.messages import FilingStatus, Stage
from filing.models import Application, FilingKind, PreApproval
from service.console.filing_view import FilingView
from service.console.render import environment
from service.principal import Principal, Role
from service.schemas import ApplicationRead, ScreenFlag

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def _render(application: Application) -> tuple[ApplicationRead, str]:
    """The page as the console renders it from the API's answer (its JSON, read back)."""
    served = ApplicationRead(filing_id=f"filing-{application.appid}", kind=FilingKind.NEW, stage=Stage.PLATFORM_REVIEW,
                             attempt=1, application=application, screen_flags=ScreenFlag.of(application))
    read = ApplicationRead.model_validate_json(served.model_dump_json())
    status = FilingStatus(filing_id=read.filing_id, kind=FilingKind.NEW, stage=Stage.PLATFORM_REVIEW, attempt=1,
                          appid=application.appid, province="冀")
    view = FilingView(application.appid, status, read=read)
    request = Request({"type": "http", "method": "GET", "path": f"/filings/{application.appid}", "headers": [],
                       "query_string": b""})
    html = environment().get_template("review.html").render(
        request=request, principal=Principal("r-01", Role.PLATFORM_REVIEWER), csrf="x", flash=None, view=view,
        status_=status, form={}, errors={}, problem=None, focus=None, rows=[], options=[], proposed=None, keys={},
        decision_route="platform-decision", needs_number=True, show_forms=True)
    return read, html


def test_screened_words_under_a_declared_answer_are_shown_with_their_fields_labels() -> None:
    app = example_application(NOW)
    app.mini_program.name = "示例挂号小程序"
    app.mini_program.remark = "本小程序为用户提供生活缴费服务，并提供合作医院在线问诊的预约入口"
    read, html = _render(app)
    assert [(f.field, f.label_zh, f.keyword, f.category) for f in read.screen_flags] == [
        ("mini_program.name", "小程序名称", "挂号", "医疗保健"),
        ("mini_program.remark", "小程序备注", "在线问诊", "医疗保健"),
    ]
    assert '<section class="group" id="screen-flags"><h2>前置审批提示</h2>' in html
    assert "申请人选择了“以上都不涉及”" in html
    assert '<li data-field="mini_program.name">小程序名称含“挂号”，可能属于“医疗保健”类</li>' in html
    assert '<li data-field="mini_program.remark">小程序备注含“在线问诊”，可能属于“医疗保健”类</li>' in html


def test_no_block_without_a_hit_or_with_the_record_named() -> None:
    plain = example_application(NOW)
    assert _render(plain)[0].screen_flags == [] and "前置审批提示" not in _render(plain)[1]

    recorded = example_application(NOW)
    recorded.mini_program.remark = "本小程序为用户提供生活缴费服务，并提供合作医院在线问诊的预约入口"
    recorded.mini_program.pre_approvals.append(PreApproval(
        category="医疗保健", approval_number="卫审001", document_name="批复", document=example_preapproval_document()))
    read, html = _render(recorded)
    assert read.screen_flags == [] and "前置审批提示" not in html
