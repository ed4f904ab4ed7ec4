"""The console's pure parts, without a browser: the application's fields as the form groups
them, editing by path, China time and time left, the Chinese whys, the signed cookies, the
login's redirect target, and a queue row past its deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import Request
from starlette.datastructures import FormData

from filing.examples import example_application, example_preapproval_document
from filing.models import LONG_TERM, Application, PreApproval
from service.audit import field_paths
from service.console import fields
from service.console.clock import china_time, time_left
from service.console.forms import idempotency_key
from service.console.login import safe_next
from service.console.render import environment
from service.console.session import Signer
from service.console.why import explain
from service.principal import Principal, Role
from service.schemas import FilingListItem, FilingPage

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def full_application() -> Application:
    """Every optional part present: its own mini-program principal, a legal representative, a pre-approval."""
    app = example_application(NOW, own_mini_program_principal=True, legal_representative=True)
    app.mini_program.pre_approvals.append(PreApproval(category="教育", approval_number="教审001", document_name="批复",
                                                      document=example_preapproval_document()))
    return app


@pytest.mark.parametrize("app", [example_application(NOW), full_application()], ids=["reused principal", "full"])
def test_every_field_is_shown_in_the_seeds_groups_with_a_chinese_label(app: Application):
    found = fields.groups(app)
    assert [g.title for g in found] == ["备案信息", "主体信息", "主体负责人", "小程序信息", "小程序负责人", "补充材料"]
    shown = {leaf.path for g in found for leaf in g.leaves}
    assert set(field_paths(app)) <= shown
    assert all(leaf.label != leaf.path for g in found for leaf in g.leaves), "a field without a Chinese label"
    materials = {leaf.path for g in found for leaf in g.leaves if leaf.material}
    assert materials == {path for path, _ in app.materials()}


def test_absent_parts_say_why_and_labels_number_list_items():
    leaves = {leaf.path: leaf for leaf in fields.all_leaves(example_application(NOW))}
    assert leaves["mini_program_principal.person"].text == "复用主体负责人"
    assert leaves["subject.legal_representative"].text == "负责人即法人"
    assert fields.label("mini_program.pre_approvals[1].document") == "前置审批文件（第2项）"
    assert fields.label("no.such.field") == "no.such.field"


def test_edits_are_set_by_path_with_their_types():
    app = full_application()
    document = app.model_dump(mode="json")
    leaves = {leaf.path: leaf for leaf in fields.all_leaves(app)}
    for path, typed in (("subject.address.detail", " 示例路9号 "), ("subject_principal.identity_document.valid_until", "长期"),
                        ("mini_program.service_categories[0]", "工具"),
                        ("subject.principal_is_legal_representative", "true")):
        fields.set_path(document, path, fields.typed(leaves[path], typed))
    edited = Application.model_validate(document)
    assert edited.subject.address.detail == "示例路9号"
    assert edited.subject_principal.identity_document.valid_until == LONG_TERM
    assert edited.mini_program.service_categories == ["工具"]
    assert edited.subject.principal_is_legal_representative is True
    assert leaves["subject.type"].choices[0] == ("PERSONAL", "个人")


def test_a_reason_names_a_field_or_a_part_holding_it():
    assert fields.names("subject.address.detail", "subject.address")
    assert fields.names("mini_program.pre_approvals[0].document", "mini_program.pre_approvals")
    assert not fields.names("subject.address_line", "subject.address")
    assert not fields.names("subject.address", "subject.address.detail")


def test_time_is_china_time_and_time_left_counts_down_to_overdue():
    assert china_time(datetime(2026, 3, 1, 16, 0, tzinfo=UTC)) == "2026-03-02 00:00"
    assert time_left(NOW + timedelta(days=2, hours=10, minutes=59), NOW).text == "剩余 2 天 10 小时"
    assert time_left(NOW + timedelta(minutes=20), NOW).text == "剩余 不到 1 小时"
    past = time_left(NOW - timedelta(days=1, hours=3), NOW)
    assert past.overdue and past.text == "已逾期 1 天 3 小时"
    breached = time_left(NOW + timedelta(hours=5), NOW, breached=True)
    assert breached.overdue and breached.text == "已逾期"
    assert time_left(None, NOW) is None


@pytest.mark.parametrize(("why", "words"), [
    ("the filing is in stage RETURNED, not PLATFORM_REVIEW", "备案当前处于「已退回」阶段"),
    ("it names attempt 1; the current attempt is 2", "页面对应第 1 次提交，备案已是第 2 次提交"),
    ("not applied: 冀ICP备18021892号-2X was already issued to the mini-program x (active); a number is issued once",
     "已发放给其他小程序"),
    ("mobile 138****8000 is not a verifier of this filing; verifiers: 139****0000", "不是本备案的核验人"),
    ("something new", "备案当前不接受此操作"),  # never the English on a page (issue 19): the API keeps it
])
def test_whys_are_explained_in_chinese(why: str, words: str):
    assert words in explain(why)


def test_sealed_values_and_csrf_tokens_are_bound_to_the_key_and_the_session():
    signer, other = Signer(b"k" * 32), Signer(b"j" * 32)
    sealed = signer.seal("flash", {"text": "已通过"}, 60)
    assert signer.unseal("flash", sealed) == {"text": "已通过"}
    assert signer.unseal("oidc", sealed) is None  # another purpose
    assert other.unseal("flash", sealed) is None  # another key
    assert signer.unseal("flash", sealed[:-2] + "AA") is None
    assert signer.unseal("flash", signer.seal("flash", {}, -1)) is None  # expired
    assert signer.csrf("session-a") != signer.csrf("session-b")
    assert signer.csrf_ok("session-a", signer.csrf("session-a"))
    assert not signer.csrf_ok("session-a", other.csrf("session-a")) and not signer.csrf_ok(None, "")


def test_a_form_keeps_its_idempotency_key_only_after_an_outage():
    form = FormData([("idem", "key-1")])
    assert idempotency_key(form, 503) == "key-1" and idempotency_key(form, 504) == "key-1"  # retry: at most once
    assert idempotency_key(form, 409) != "key-1" and idempotency_key(form, 422) != "key-1"  # a new body, a new key


@pytest.mark.parametrize(("given", "safe"), [
    ("/queue?kind=NEW", "/queue?kind=NEW"), ("//evil.example/x", "/"), ("https://evil.example", "/"),
    ("/\\evil.example", "/"), ("queue", "/"), (None, "/"),
])
def test_the_login_goes_back_only_to_a_page_of_this_site(given: str | None, safe: str):
    assert safe_next(given) == safe


def test_a_queue_row_past_its_deadline_is_marked_overdue():
    item = FilingListItem(filing_id="filing-wx0000000000000001", run_id="r", running=True, stage="PLATFORM_REVIEW",
                          kind="NEW", province="冀", appid="wx0000000000000001", attempt=2, provisional=False,
                          sla_breached=True, overdue=True, started_at=NOW - timedelta(days=5),
                          deadline=NOW - timedelta(days=1))
    page = FilingPage(items=[item], total=1, next="abc")
    request = Request({"type": "http", "method": "GET", "path": "/queue", "headers": [], "query_string": b""})
    html = environment().get_template("queue.html").render(
        request=request, principal=Principal("r-01", Role.PLATFORM_REVIEWER), csrf="x", flash=None, title="队列",
        page=page, kinds={}, kind="", overdue=False, first_page=True, size=20, sizes=[20, 50])
    assert 'class="overdue"' in html and '<span class="badge overdue">已逾期</span>' in html
    assert "第 2 次" in html and 'rel="next"' in html and "cursor=abc" in html
