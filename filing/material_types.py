"""Each kind of material's accepted formats and size limit (R10), read from data.

A scan and a promise video (承诺视频) differ in what they may be and how large; the limits
are data (`data/material_types.json`), so a province asking for a longer video is a data
change. The upload check (`filing.materials.prepare_material`) accepts a file when some kind
accepts its format within that kind's limit; the R10 check then judges each slot of the
application by the kind it asks for (a video where a scan belongs is refused).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from filing.ports import MediaType

DEFAULT_PATH = Path(__file__).parent / "data" / "material_types.json"
MaterialKind = Literal["document", "video"]
#: How people name each format.
FORMAT_NAMES: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "application/pdf": "PDF", "video/mp4": "MP4"}


class MaterialType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name_zh: str
    name_en: str
    formats: tuple[MediaType, ...] = Field(min_length=1)
    max_bytes: int = Field(gt=0, le=64 * 1024 * 1024)

    @property
    def formats_text(self) -> str:
        return "/".join(FORMAT_NAMES[f] for f in self.formats)

    @property
    def limit_text(self) -> str:
        return f"{self.max_bytes / (1024 * 1024):g} MiB"


class _File(BaseModel):
    model_config = ConfigDict(extra="allow")

    types: dict[MaterialKind, MaterialType]


@functools.cache
def material_types() -> dict[MaterialKind, MaterialType]:
    """The packaged table, read once per process; both kinds must be present."""
    table = _File.model_validate_json(DEFAULT_PATH.read_bytes()).types
    missing = {"document", "video"} - set(table)
    if missing:
        raise ValueError(f"{DEFAULT_PATH}: no entry for {sorted(missing)}")
    return table


def limit_for(media_type: str) -> int:
    """The largest size any kind accepts for this format (what an upload may be)."""
    return max((t.max_bytes for t in material_types().values() if media_type in t.formats), default=0)


def largest_limit() -> int:
    """The largest upload of any kind: what a reader takes before it knows the format."""
    return max(t.max_bytes for t in material_types().values())
