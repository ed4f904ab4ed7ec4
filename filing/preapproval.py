"""R6: which service categories need a pre-approval (前置审批), read from data.

The list changes with regulation, so it lives in `data/preapproval_categories.json`
and a deployment can point at its own copy. The worker reads it once (an activity) and
hands the names to the workflow, which never reads files itself.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).parent / "data" / "preapproval_categories.json"


@dataclass(frozen=True, slots=True)
class PreApprovalCategory:
    name: str  # as applicants write it in service_categories
    name_en: str
    authority: str
    authority_en: str


def load_preapproval_catalogue(path: Path | None = None) -> tuple[PreApprovalCategory, ...]:
    """Every category with its approving authority; raises ValueError on a malformed file."""
    try:
        raw = json.loads((path or DEFAULT_PATH).read_text(encoding="utf-8"))
        entries = tuple(PreApprovalCategory(**entry) for entry in raw["categories"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed pre-approval category file {path or DEFAULT_PATH}: {exc}") from exc
    if any(not e.name.strip() for e in entries) or len({e.name for e in entries}) != len(entries):
        raise ValueError(f"pre-approval category names must be non-empty and unique: {path or DEFAULT_PATH}")
    return entries


@functools.cache
def _default_categories() -> frozenset[str]:
    return frozenset(e.name for e in load_preapproval_catalogue())


def load_preapproval_categories(path: Path | None = None) -> frozenset[str]:
    """Names of the categories that need approval; the packaged file is read once."""
    if path is None:
        return _default_categories()
    return frozenset(e.name for e in load_preapproval_catalogue(path))
