"""R10: the provinces' supplementary materials (各省补充材料), read from data.

Each provincial communications administration asks for its own extra documents, and
changes its mind by notice, so the lists are data: the engine ships a list
(`data/province_materials.json`), and operators load the real ones into the registry
database with `filings materials provinces import FILE` (`registry.province_materials`),
which then wins over the shipped file for every worker and service replica. Like the R6
categories, the worker reads the lists in force and hands them to whoever judges an
application; the rules never read files or databases inside a workflow.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from filing.material_types import MaterialKind
from filing.models import SubjectType
from filing.provinces import find_province

DEFAULT_PATH = Path(__file__).parent / "data" / "province_materials.json"

#: Shorthands a list may use instead of naming every subject type.
_GROUPS: dict[str, frozenset[SubjectType]] = {
    "ALL": frozenset(SubjectType),
    "NON_PERSONAL": frozenset(SubjectType) - {SubjectType.PERSONAL},
}


def _expand_groups(value: object) -> object:
    if not isinstance(value, list):
        return value
    expanded: list[object] = []
    for item in value:
        expanded.extend(sorted(_GROUPS[item]) if isinstance(item, str) and item in _GROUPS else [item])
    return expanded


class ProvinceMaterial(BaseModel):
    """One item of a province's list: the name the application names it by, and for whom."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=50)
    name_en: str = Field(min_length=1, max_length=100)
    subject_types: Annotated[frozenset[SubjectType], BeforeValidator(_expand_groups)] = Field(min_length=1)
    #: What the item is (`filing.material_types`): a scan or document, or a video (承诺视频).
    material_type: MaterialKind = "document"


class ProvinceMaterials(BaseModel):
    """Every province's list, keyed by canonical filing-number prefix (冀): serialisable, so
    an activity can hand the lists in force to a workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provinces: dict[str, tuple[ProvinceMaterial, ...]] = Field(default_factory=dict)

    def required(self, province: str, subject_type: SubjectType) -> tuple[ProvinceMaterial, ...]:
        """What the subject's province asks of this subject type (nothing for an unknown province)."""
        found = find_province(province)
        if found is None:
            return ()
        return tuple(item for item in self.provinces.get(found.prefix, ()) if subject_type in item.subject_types)


class ProvinceList(BaseModel):
    """One province's list with its provenance: where it comes from and when it was checked."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=1000)
    #: The day the list was last checked against its source; none: the province asks only
    #: for the national materials (an unchecked list is no requirement).
    checked: date | None = None
    items: list[ProvinceMaterial] = Field(default_factory=list, max_length=20)


class ProvinceListing(BaseModel):
    """A whole list as checked, with its provenance: each province (keyed by its canonical
    filing-number prefix) with `source`, `checked` and its items. What `filings materials
    provinces import` stores and `... show` lists; `materials()` is what the rules read."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    updated: str = ""
    provinces: dict[str, ProvinceList]

    def materials(self) -> ProvinceMaterials:
        """The lists in force: the items of each province with a `checked` date."""
        return ProvinceMaterials(provinces={
            prefix: tuple(entry.items) for prefix, entry in self.provinces.items()
            if entry.checked is not None and entry.items})

    def canonical_json(self) -> str:
        """The listing as stored: one spelling for the same content (what the checksum is over;
        a set's order would differ between processes)."""
        document = self.model_dump(mode="json")
        for entry in document["provinces"].values():
            for item in entry["items"]:
                item["subject_types"] = sorted(item["subject_types"])
        return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def checksum(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


#: The fields each level accepts, named when a list has an unknown one.
_KNOWN_FIELDS = {
    1: "description, updated, provinces",
    3: "source, checked, items",
    5: "name, name_en, subject_types, material_type",
}


def _problem(error: ErrorDetails) -> str:
    """One validation error as the operator reads it: where, what is wrong, what is valid."""
    loc = ".".join(str(p) for p in error["loc"])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        known = _KNOWN_FIELDS.get(len(error["loc"]))
        message = "unknown field" + (f"; known: {known}" if known else "")
    elif "subject_types" in error["loc"] and error["type"] == "enum":
        message += f", or a group: {', '.join(_GROUPS)}"
    elif error["type"] == "json_invalid":
        message = f"not JSON: {error.get('ctx', {}).get('error', message)}"
    return f"{loc}: {message}" if loc else message


def load_province_materials_file(path: Path) -> ProvinceMaterials:
    """Parse and check a list file; raises ValueError naming the file and what is wrong."""
    return load_province_listing_file(path).materials()


def load_province_listing_file(path: Path) -> ProvinceListing:
    """A list file with its provenance; raises ValueError naming the file and what is wrong."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read province materials file {path}: {exc.strerror or exc}") from exc
    return parse_province_listing(content, str(path))


def parse_province_materials(content: bytes | str, where: str = "the list") -> ProvinceMaterials:
    """Parse and check a list (the whole of it, or nothing); raises ValueError naming the
    province, the item and what would be valid. Provinces without a `checked` date are left out."""
    return parse_province_listing(content, where).materials()


def parse_province_listing(content: bytes | str, where: str = "the list") -> ProvinceListing:
    """Parse and check a whole list, keeping each province's provenance; raises ValueError
    naming every field at fault (its path: `provinces.河北.items.0.subject_types.0`) and
    what would be valid. Provinces are re-keyed by their canonical prefix (河北 -> 冀)."""
    path = where
    try:
        raw = ProvinceListing.model_validate_json(content)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ValueError(f"malformed province materials file {where}: {problems}") from None
    listed: dict[str, ProvinceList] = {}
    for given, entry in raw.provinces.items():
        province = find_province(given)
        if province is None:
            raise ValueError(f"province materials file {path}: provinces.{given}: unknown province {given!r} "
                             "(use a name such as 河北 or a filing-number prefix such as 冀)")
        if province.prefix in listed:
            raise ValueError(f"province materials file {path}: {province.name} is listed twice")
        names = [item.name for item in entry.items]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"province materials file {path}: provinces.{given}.items: {province.name} names "
                             f"an item twice ({', '.join(twice)}); each name once")
        listed[province.prefix] = entry
    return ProvinceListing(description=raw.description, updated=raw.updated, provinces=listed)


@functools.cache
def shipped_listing() -> ProvinceListing:
    """The list shipped with the engine (`data/province_materials.json`), read once per process."""
    return load_province_listing_file(DEFAULT_PATH)


@functools.cache
def _packaged() -> ProvinceMaterials:
    return shipped_listing().materials()


def load_province_materials(path: Path | None = None) -> ProvinceMaterials:
    """The shipped lists (or a file's). The lists in force are the registry's when an operator
    imported some (`registry.province_materials`): checks that can reach it read those."""
    return _packaged() if path is None else load_province_materials_file(path)
