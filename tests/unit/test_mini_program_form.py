"""The mini-program's fields as WeChat's filing form has them (issue 17): the 小程序备注, at most
5 service categories from the service-content type list, the explicit answer "以上都不涉及",
and R6's keyword screen, with the reviewer's flag for a declared answer on a screened hit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from filing.examples import example_application, example_preapproval_document
from filing.models import Application, PreApproval
from filing.preapproval import declared_hits
from filing.rules import check_application, parse_application

NOW = datetime(2025, 3, 3, 2, 0)


def example() -> Application:
    return example_application(NOW)


def keys(app: Application, **kwargs: Any) -> set[tuple[str, str]]:
    found = check_application(app, NOW, **kwargs)
    for v in found:  # every violation names its field and speaks both languages
        assert v.field and v.key and v.message_zh and v.message_en
    return {(v.key, v.field) for v in found}


def record(category: str) -> PreApproval:
    return PreApproval(category=category, approval_number="冀卫审〔2025〕3号", document_name="许可证",
                       document=example_preapproval_document())


# --- 小程序备注 ------------------------------------------------------------------------------


def test_the_example_names_a_remark_its_categories_and_the_explicit_answer() -> None:
    app = example()
    assert app.mini_program.remark and app.mini_program.no_pre_approval_needed
    assert keys(app) == set()


@pytest.mark.parametrize(("remark", "key"), [
    (None, "R6.remark_missing"),
    ("   ", "R6.remark_missing"),
    ("提供缴费查询", "R6.remark_too_short"),
    ("缴" * 19, "R6.remark_too_short"),
    ("缴" * 201, "R6.remark_too_long"),
])
def test_a_remark_missing_or_outside_20_to_200_characters_is_refused(remark: str | None, key: str) -> None:
    app = example()
    app.mini_program.remark = remark
    assert keys(app) == {(key, "mini_program.remark")}


@pytest.mark.parametrize("length", [20, 200])
def test_a_remark_at_its_limits_passes(length: int) -> None:
    app = example()
    app.mini_program.remark = "缴" * length
    assert keys(app) == set()


def test_an_application_recorded_before_the_remark_still_decodes() -> None:
    data = example().model_dump(mode="json")
    del data["mini_program"]["remark"], data["mini_program"]["no_pre_approval_needed"]
    app = Application.model_validate(data)
    assert app.mini_program.remark is None and not app.mini_program.no_pre_approval_needed
    # ... and a past filing imported into the registry is not asked the form's later fields
    assert not {k for k, _ in keys(app, past_filing=True) if k in {"R6.remark_missing", "R6.too_many_categories", "R6.unknown_service_category"} or "answer" in k}


# --- service categories -------------------------------------------------------------------


def test_categories_come_from_the_service_content_type_list() -> None:
    app = example()
    app.mini_program.service_categories = ["生活服务-生活缴费", "招聘", "火星旅游", "生活服务"]
    found = check_application(app, NOW)
    assert {(v.key, v.field) for v in found} == {
        ("R6.unknown_service_category", "mini_program.service_categories[2]"),
        ("R6.unknown_service_category", "mini_program.service_categories[3]"),
    }
    unknown, first_level = found
    assert "query_icp_service_content_types" in unknown.message_en and "service_content_types.json" in unknown.message_zh
    assert "一级类型" in first_level.message_zh and "first-level" in first_level.message_en


def test_at_most_five_categories() -> None:
    app = example()
    app.mini_program.service_categories = ["生活服务-生活缴费", "生活服务-招聘", "生活服务-票务", "工具-天气",
                                           "工具-效率工具"]
    assert keys(app) == set()
    app.mini_program.service_categories.append("工具-信息查询")
    assert keys(app) == {("R6.too_many_categories", "mini_program.service_categories")}


def test_a_category_list_not_known_at_l1_skips_the_list_check() -> None:
    """A filing whose L1 check predates the list carries none: its resubmission is not judged by it."""
    app = example()
    app.mini_program.service_categories = ["火星旅游"]
    assert keys(app, service_types=()) == set()


# --- the explicit answer and the keyword screen -------------------------------------------


def test_no_record_and_no_answer_is_refused() -> None:
    app = example()
    app.mini_program.no_pre_approval_needed = False
    assert keys(app) == {("R6.pre_approval_answer_missing", "mini_program.no_pre_approval_needed")}


def test_a_screened_keyword_without_record_or_answer_is_refused_with_everything_else() -> None:
    """在线问诊 in the remark hints at 医疗保健; the applicant named a record for 教育 only."""
    app = example()
    app.mini_program.no_pre_approval_needed = False
    app.mini_program.service_categories = ["教育-在线教育"]
    app.mini_program.pre_approvals = [record("教育")]
    app.mini_program.remark = "面向中小学生的在线教育课程，并提供在线问诊的心理咨询服务入口"
    app.mini_program.name = "示例打车"  # 打车 hints at 网络预约车
    found = check_application(app, NOW)
    assert {(v.key, v.field) for v in found} == {
        ("R6.screened_pre_approval_missing", "mini_program.name"),
        ("R6.screened_pre_approval_missing", "mini_program.remark"),
    }
    assert any("医疗保健" in v.message_zh and "在线问诊" in v.message_en for v in found)
    assert any("网络预约车" in v.message_zh for v in found)


def test_a_record_for_the_screened_category_passes() -> None:
    app = example()
    app.mini_program.no_pre_approval_needed = False
    app.mini_program.remark = "为本市居民提供在线问诊、复诊续方和健康档案查询服务的互联网医院"
    app.mini_program.service_categories = ["医疗健康-在线问诊"]
    app.mini_program.pre_approvals = [record("医疗保健")]
    assert keys(app) == set()


def test_an_alias_in_a_category_is_the_category_itself_not_only_a_hint() -> None:
    app = example()
    app.mini_program.service_categories = ["交通出行-网约车"]  # 网约车 is 网络预约车
    assert keys(app) == {("R6.pre_approval_missing", "mini_program.service_categories[0]")}


def test_a_declared_answer_on_a_screened_hit_passes_and_is_flagged_for_the_reviewer() -> None:
    app = example()
    app.mini_program.remark = "为用户提供网络借贷信息的比价与查询，不直接放款，仅作展示用途"
    assert app.mini_program.no_pre_approval_needed
    assert keys(app) == set()  # the applicant's declaration is accepted ...
    hits = declared_hits(app)  # ... and the reviewer's page shows what the screen found
    assert [(h.field, h.keyword, h.category) for h in hits] == [("mini_program.remark", "网络借贷", "互联网金融")]
    assert declared_hits(example()) == []


def test_every_new_problem_is_reported_at_once_and_nothing_parses_into_a_filing() -> None:
    data = example().model_dump(mode="json")
    data["mini_program"] |= {"remark": "短", "no_pre_approval_needed": False, "name": "在线问诊",
                             "service_categories": ["火星旅游"] * 6}
    app, found = parse_application(data, NOW)
    assert app is not None
    assert {v.key for v in found} >= {"R6.remark_too_short", "R6.too_many_categories",
                                     "R6.unknown_service_category", "R6.pre_approval_answer_missing",
                                     "R6.screened_pre_approval_missing"}
