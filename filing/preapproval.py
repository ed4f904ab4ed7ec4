"""R6: which service categories need a pre-approval (前置审批), read from data.

The list changes with regulation, so it lives in `data/preapproval_categories.json`
and a deployment can point at its own copy. The worker reads it once (an activity) and
hands the names to the workflow, which never reads files itself.

Applicants write a category the way they speak of it (网约车 for 网络预约车, as the source
guide itself does), so each category carries its common names (`aliases`) in the same
file: the one source of both, and a new alias is a data change.

Beside the exact names, a **keyword screen** (`keywords` in the same file, also data): a
word such as 在线问诊 in the mini-program's name, its 备注 or its service categories says a
category (医疗保健) may apply, though the applicant chose no such category. `screen` finds
those hits; R6 refuses an application that names no pre-approval record for a hit and did
not answer "以上都不涉及", and the reviewer's page flags a hit the applicant declared as
"以上都不涉及" (`declared_hits`), for a person to judge: a keyword is a hint, not a verdict.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from filing.models import Application

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
    keywords: tuple[str, ...] = ()  # the keyword screen's words for it (在线问诊)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _strings(raw: dict[str, object], key: str) -> tuple[str, ...]:
    values = raw.pop(key, [])
    if not isinstance(values, list) or not all(isinstance(a, str) and a.strip() for a in values):
        raise TypeError(f"{key} must be a list of non-empty strings")
    return tuple(a.strip() for a in values)


def _entry(raw: dict[str, object]) -> PreApprovalCategory:
    aliases, keywords = _strings(raw, "aliases"), _strings(raw, "keywords")
    return PreApprovalCategory(**raw, aliases=aliases, keywords=keywords)  # type: ignore[arg-type]


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


#: Keyword -> the canonical category it hints at (a keyword may hint at several: a list).
KeywordIndex = Mapping[str, list[str]]


def load_preapproval_keywords(path: Path | None = None) -> dict[str, list[str]]:
    """The keyword screen: every keyword -> the canonical categories it hints at; the packaged file is read once."""
    catalogue = _default_catalogue() if path is None else load_preapproval_catalogue(path)
    index: dict[str, list[str]] = {}
    for entry in catalogue:
        for word in entry.keywords:
            index.setdefault(word, []).append(entry.name)
    return index


@dataclass(frozen=True, slots=True)
class ScreenHit:
    """A keyword found where the applicant wrote it, and the category it hints at."""

    field: str  # mini_program.name, mini_program.remark, mini_program.service_categories[i]
    keyword: str
    category: str  # canonical pre-approval category


def screen(app: Application, keywords: KeywordIndex) -> list[ScreenHit]:
    """Every keyword hit over the mini-program's name, remark and service categories (one per
    field and category, the longest keyword), in field order."""
    mp = app.mini_program
    texts = [("mini_program.name", mp.name)]
    if mp.remark:
        texts.append(("mini_program.remark", mp.remark))
    texts += [(f"mini_program.service_categories[{i}]", c) for i, c in enumerate(mp.service_categories)]
    words = sorted(keywords, key=len, reverse=True)
    hits: list[ScreenHit] = []
    for field, text in texts:
        seen: set[str] = set()
        for word in words:
            if word in text:
                for category in keywords[word]:
                    if category not in seen:
                        seen.add(category)
                        hits.append(ScreenHit(field, word, category))
    return hits


def recorded_categories(app: Application, categories: CategoryIndex) -> set[str]:
    """The canonical categories the application names pre-approval records for."""
    return {categories.get(p.category.strip(), p.category.strip()) for p in app.mini_program.pre_approvals}


def declared_hits(app: Application, keywords: KeywordIndex | None = None,
                  categories: CategoryIndex | None = None) -> list[ScreenHit]:
    """What the reviewer's page flags: hits without a record in an application that answered
    "以上都不涉及" (with no answer, R6 refuses it before any reviewer sees it)."""
    if not app.mini_program.no_pre_approval_needed:
        return []
    index = load_preapproval_index() if categories is None else categories
    recorded = recorded_categories(app, index)
    found = screen(app, load_preapproval_keywords() if keywords is None else keywords)
    return [hit for hit in found if hit.category not in recorded]
