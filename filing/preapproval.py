"""R6: which service categories need a pre-approval (前置审批), read from data.

The list changes with regulation, so it lives in `data/preapproval_categories.json`
and a deployment can point at its own copy. The worker reads it once (an activity) and
hands the names to the workflow, which never reads files itself.

Applicants write a category the way they speak of it (网约车 for 网络预约车, as the source
guide itself does), so each category carries its common names (`aliases`) in the same
file: the one source of both, and a new alias is a data change.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).parent / "data" / "preapproval_categories.json"

#: Every name a category goes by (canonical name or alias) -> its canonical name.
CategoryIndex = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PreApprovalCategory:
    name: str  # canonical name, as the SPEC lists it
    name_en: str
    authority: str
    authority_en: str
    aliases: tuple[str, ...] = ()  # common names of the same category (网约车)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _entry(raw: dict[str, object]) -> PreApprovalCategory:
    aliases = raw.pop("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise TypeError("aliases must be a list of strings")
    return PreApprovalCategory(**raw, aliases=tuple(a.strip() for a in aliases))  # type: ignore[arg-type]


def load_preapproval_catalogue(path: Path | None = None) -> tuple[PreApprovalCategory, ...]:
    """Every category with its approving authority; raises ValueError on a malformed file."""
    where = path or DEFAULT_PATH
    try:
        raw = json.loads(where.read_text(encoding="utf-8"))
        entries = tuple(_entry(dict(entry)) for entry in raw["categories"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed pre-approval category file {where}: {exc}") from exc
    names = [n for e in entries for n in e.names]
    if any(not n.strip() for n in names):
        raise ValueError(f"pre-approval category names and aliases must be non-empty: {where}")
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(
            f"pre-approval category names and aliases must be unique across the file, "
            f"{', '.join(clashes)} appear more than once: {where}"
        )
    return entries


def category_index(categories: CategoryIndex | Iterable[str]) -> dict[str, str]:
    """A category list as an index: a mapping is taken as it is (its canonical names added
    as their own), plain names (a list recorded before aliases existed) stand for themselves."""
    if isinstance(categories, Mapping):
        index = {canonical: canonical for canonical in categories.values()}
        index.update(categories)
        return index
    return {name: name for name in categories}


@functools.cache
def _default_catalogue() -> tuple[PreApprovalCategory, ...]:
    return load_preapproval_catalogue()


def load_preapproval_categories(path: Path | None = None) -> frozenset[str]:
    """Canonical names of the categories that need approval; the packaged file is read once."""
    catalogue = _default_catalogue() if path is None else load_preapproval_catalogue(path)
    return frozenset(e.name for e in catalogue)


def load_preapproval_index(path: Path | None = None) -> dict[str, str]:
    """Every name and alias -> canonical name, what R6 matches against; the packaged file is read once."""
    catalogue = _default_catalogue() if path is None else load_preapproval_catalogue(path)
    return {name: e.name for e in catalogue for name in e.names}
