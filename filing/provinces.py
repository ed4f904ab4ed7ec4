"""The 31 mainland provincial-level regions (SPEC R5, §6) and how filings name them.

An address names a province by its full or short name; a filing number by a one-character
prefix, sometimes an alias (蜀 or 川 for Sichuan). Everything resolves to one `Province`,
so the R8 comparison and the provincial hand-over never depend on how it was written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Province:
    name: str  # full name, 河北省
    short_name: str  # 河北
    prefix: str  # filing-number prefix the MIIT issues today, 冀
    aliases: tuple[str, ...]  # other prefixes seen in real filing numbers
    code: str  # GB/T 2260 two-digit code, first two digits of a resident ID
    capital: str  # seat of government, a plausible city for examples

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (self.prefix, *self.aliases)


def _p(name: str, short: str, prefix: str, code: str, capital: str, *aliases: str) -> Province:
    return Province(name, short, prefix, tuple(aliases), code, capital)


PROVINCES: tuple[Province, ...] = (
    _p("北京市", "北京", "京", "11", "北京市"),
    _p("天津市", "天津", "津", "12", "天津市"),
    _p("河北省", "河北", "冀", "13", "石家庄市"),
    _p("山西省", "山西", "晋", "14", "太原市"),
    _p("内蒙古自治区", "内蒙古", "蒙", "15", "呼和浩特市"),
    _p("辽宁省", "辽宁", "辽", "21", "沈阳市"),
    _p("吉林省", "吉林", "吉", "22", "长春市"),
    _p("黑龙江省", "黑龙江", "黑", "23", "哈尔滨市"),
    _p("上海市", "上海", "沪", "31", "上海市"),
    _p("江苏省", "江苏", "苏", "32", "南京市"),
    _p("浙江省", "浙江", "浙", "33", "杭州市"),
    _p("安徽省", "安徽", "皖", "34", "合肥市"),
    _p("福建省", "福建", "闽", "35", "福州市"),
    _p("江西省", "江西", "赣", "36", "南昌市"),
    _p("山东省", "山东", "鲁", "37", "济南市"),
    _p("河南省", "河南", "豫", "41", "郑州市"),
    _p("湖北省", "湖北", "鄂", "42", "武汉市"),
    _p("湖南省", "湖南", "湘", "43", "长沙市"),
    _p("广东省", "广东", "粤", "44", "广州市"),
    _p("广西壮族自治区", "广西", "桂", "45", "南宁市"),
    _p("海南省", "海南", "琼", "46", "海口市"),
    _p("重庆市", "重庆", "渝", "50", "重庆市"),
    _p("四川省", "四川", "蜀", "51", "成都市", "川"),
    _p("贵州省", "贵州", "黔", "52", "贵阳市", "贵"),
    _p("云南省", "云南", "滇", "53", "昆明市", "云"),
    _p("西藏自治区", "西藏", "藏", "54", "拉萨市"),
    _p("陕西省", "陕西", "陕", "61", "西安市", "秦"),
    _p("甘肃省", "甘肃", "陇", "62", "兰州市", "甘"),
    _p("青海省", "青海", "青", "63", "西宁市"),
    _p("宁夏回族自治区", "宁夏", "宁", "64", "银川市"),
    _p("新疆维吾尔自治区", "新疆", "新", "65", "乌鲁木齐市"),
)

_BY_PREFIX = {prefix: p for p in PROVINCES for prefix in p.prefixes}
_BY_NAME = {key: p for p in PROVINCES for key in (p.name, p.short_name)} | _BY_PREFIX
_BY_CODE = {p.code: p for p in PROVINCES}

#: Every accepted filing-number prefix, canonical ones first, for error messages.
ALL_PREFIXES: tuple[str, ...] = tuple(p.prefix for p in PROVINCES) + tuple(a for p in PROVINCES for a in p.aliases)


def find_province(text: str) -> Province | None:
    """Full name, short name, filing-number prefix or alias; surrounding spaces ignored."""
    return _BY_NAME.get(text.strip())


def province_by_prefix(prefix: str) -> Province | None:
    return _BY_PREFIX.get(prefix)


def province_by_code(code: str) -> Province | None:
    """GB/T 2260 two-digit code (the first two digits of a resident ID)."""
    return _BY_CODE.get(code)
