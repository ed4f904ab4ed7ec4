"""R10: the provinces' supplementary materials (各省补充材料), read from data.

Each provincial communications administration asks for its own extra documents, and
changes its mind by notice, so the lists are an operator-maintained data file
(`data/province_materials.json`) that a deployment can replace with its own copy. Like
the R6 categories, the worker reads it and hands it to whoever judges an application;
the rules never read files inside a workflow.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

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


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    updated: str = ""
    provinces: dict[str, list[ProvinceMaterial]]


def load_province_materials_file(path: Path) -> ProvinceMaterials:
    """Parse and check a list file; raises ValueError naming the file and what is wrong."""
    try:
        raw = _File.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ValueError(f"malformed province materials file {path}: {exc}") from exc
    lists: dict[str, tuple[ProvinceMaterial, ...]] = {}
    for given, items in raw.provinces.items():
        province = find_province(given)
        if province is None:
            raise ValueError(f"province materials file {path}: unknown province {given!r} "
                             "(use a name such as 河北 or a filing-number prefix such as 冀)")
        if province.prefix in lists:
            raise ValueError(f"province materials file {path}: {province.name} is listed twice")
        names = [item.name for item in items]
        if len(set(names)) != len(names):
            raise ValueError(f"province materials file {path}: {province.name} names an item twice")
        lists[province.prefix] = tuple(items)
    return ProvinceMaterials(provinces=lists)


@functools.cache
def _packaged() -> ProvinceMaterials:
    return load_province_materials_file(DEFAULT_PATH)


def load_province_materials(path: Path | None = None) -> ProvinceMaterials:
    """The lists in force; the packaged file is read once per process."""
    return _packaged() if path is None else load_province_materials_file(path)
