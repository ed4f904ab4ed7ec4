"""The service-content types (小程序服务内容类型) an application's categories come from (SPEC §3).

WeChat's filing API takes only second-level types, at most 5, from the list its
`query_icp_service_content_types` answers, and asks callers not to hard-code that list: it
is data (`data/service_content_types.json`, the API's answer shape), which operators
refresh. The worker reads it (an activity) and hands the names to the workflow, so the
`resubmit` validator judges by the list in force at L1 without reading a file.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_PATH = Path(__file__).parent / "data" / "service_content_types.json"
#: WeChat's form: "只能填写二级服务内容类型，最多5个".
MAX_SERVICE_CATEGORIES = 5
SOURCE_NAME = "query_icp_service_content_types"


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: int
    parent_type: int = 0
    name: str = Field(min_length=1, max_length=50)


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[_Item] = Field(min_length=1)


def load_service_types_file(path: Path) -> tuple[str, ...]:
    """Every second-level type as `父类-子类`; raises ValueError naming the file and what is wrong."""
    try:
        raw = _File.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ValueError(f"malformed service-content type file {path}: {exc}") from exc
    parents = {item.type: item.name.strip() for item in raw.items if item.parent_type == 0}
    names: list[str] = []
    for item in raw.items:
        if item.parent_type == 0:
            continue
        parent = parents.get(item.parent_type)
        if parent is None:
            raise ValueError(f"service-content type file {path}: {item.name!r} names parent_type "
                             f"{item.parent_type}, which is no first-level type of the file")
        names.append(f"{parent}-{item.name.strip()}")
    return tuple(names)


@functools.cache
def _packaged() -> tuple[str, ...]:
    return load_service_types_file(DEFAULT_PATH)


def load_service_types(path: Path | None = None) -> tuple[str, ...]:
    """The list in force (`父类-子类` names); the packaged file is read once per process."""
    return _packaged() if path is None else load_service_types_file(path)


def resolve(given: str, known: Collection[str]) -> str | None:
    """The full `父类-子类` name `given` stands for: itself, or a unique second-level name; else None."""
    name = given.strip()
    if name in known:
        return name
    matches = [full for full in known if full.split("-", 1)[-1] == name]
    return matches[0] if len(matches) == 1 else None
