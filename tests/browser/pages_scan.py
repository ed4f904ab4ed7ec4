"""What every console page a person reaches must pass (issue 19, items 4 and 6), shared by
the browser tests of every page (the applicant's form, cancellations, the desks):

- `english_in(text)`: no English words in the visible text. Allowed are what people copy
  or match rather than read: codes (`PLATFORM_REVIEW`, `filing_returned`), field paths
  (`subject.address.detail`), appids, filing numbers, anything with a digit (ids, dates),
  URL paths, e-mail addresses, and a few names the real forms use (AppID, ICP, PDF, ...).
  Text marked up as code (`<code>`, `<kbd>`, `<samp>`) is a code by the page's own word.
- `axe_violations(page)`: axe-core (the npm package the Makefile installs into
  tests/browser/.axe, never a CDN) run in the page; the serious and critical ones.
- `check_page(page, ...)`: both, with the page's address in the failure.
"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Page

AXE = Path(__file__).resolve().parent / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"
#: Impacts that fail a page.
BLOCKING = ("serious", "critical")

#: Names the real forms and documents use as they are.
NAMES = frozenset({"AppID", "ICP", "PDF", "JPG", "JPEG", "PNG", "MP4", "JSON", "Alt", "Tab", "Enter", "Shift",
                   "Esc", "ID", "SMS", "URL", "wx", "AI", "APP", "App", "IP", "HTTP", "HTTPS", "GB", "MB", "KB",
                   "MiB", "KiB", "CSV"})


def _field_names() -> frozenset[str]:
    """Every field name of the application and the cancellation request (a field path of one
    segment: `application`, `front`, `scan`), and JSON's literals the messages quote."""
    from pydantic import BaseModel

    from filing.models import Application, CancellationRequest

    names: set[str] = {"true", "false", "null", "NaN", "Infinity", "query", "header", "body", "next", "calendar",
                       "number", "subject", "certificate",  # the public lookup's and calendar's parameters
                       "sms"}  # the field the engine's SMS reasons name (`Reason.field`)
    todo: list[type[BaseModel]] = [Application, CancellationRequest]
    seen: set[type] = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        names.add(model.__name__)
        for name, field in model.model_fields.items():
            names.add(name)
            for found in re.findall(r"\b[A-Z]\w+", str(field.annotation)):
                candidate = getattr(__import__("filing.models", fromlist=[found]), found, None)
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    todo.append(candidate)
    names.update({"application", "cancellation"})
    return frozenset(names)


FIELD_NAMES = _field_names()
_TOKEN = re.compile(r"[A-Za-z0-9_.\-\[\]/:@*#?=&+%~]+")
_LETTERS = re.compile(r"[A-Za-z]{2,}")
_ALLOWED = [
    re.compile(r".*\d.*"),  # ids, dates, appids, numbers, r-01
    re.compile(r"[A-Z][A-Z0-9_]+"),  # codes: PLATFORM_REVIEW, NEW
    re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+"),  # codes: filing_returned, mini_program
    re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)+"),  # account ids: wx-admin-zhang, miit-site
    re.compile(r"[a-z_]+(\[\d*\])?(\.[A-Za-z_\-]+(\[\d*\])?)+\.?"),  # field paths: subject.address.detail
    re.compile(r"/\S*"),  # URL paths
    re.compile(r"https?://\S+"),
    re.compile(r"\S+@\S+"),
]


def english_in(text: str) -> list[str]:
    """The English words of `text` (empty when it passes)."""
    found = []
    for token in _TOKEN.findall(text):
        bare = token.strip(".,:;-/()[]?*#=&+%~")
        if not _LETTERS.search(bare):
            continue
        if token.startswith("/"):  # a URL path
            continue
        if "/" in bare and "://" not in bare:  # JPEG/PNG/PDF: each on its own
            found += english_in(bare.replace("/", " "))
            continue
        if bare in NAMES or bare in FIELD_NAMES or any(p.fullmatch(bare) for p in _ALLOWED):
            continue
        found.append(bare)
    return found


class _Visible(HTMLParser):
    """The text a person sees in server-rendered HTML (no script, style, title, hidden
    parts or code), for the tests that render pages without a browser."""

    SKIP = {"script", "style", "title", "code", "kbd", "samp", "template", "head"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            for name, value in attrs:  # what a person reads on a control or instead of an image
                if name in ("placeholder", "alt", "value") and value and dict(attrs).get("type") != "hidden":
                    self.parts.append(value)
            return
        hidden = tag in self.SKIP or any(name == "hidden" for name, _ in attrs)
        self.stack.append(hidden or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


_VISIBLE_JS = """() => {
  const skip = new Set(['SCRIPT', 'STYLE', 'CODE', 'KBD', 'SAMP', 'TEMPLATE', 'NOSCRIPT']);
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { out.push(node.textContent); return; }
    if (node.nodeType !== Node.ELEMENT_NODE || skip.has(node.tagName)) return;
    const style = getComputedStyle(node);
    if (style.display === 'none' || style.visibility === 'hidden') return;
    if (node.tagName === 'DETAILS' && !node.open) { const s = node.querySelector('summary'); if (s) walk(s); return; }
    if (['INPUT', 'TEXTAREA'].includes(node.tagName) && node.type !== 'hidden') out.push(node.placeholder || '');
    if (node.tagName === 'IMG') out.push(node.alt || '');
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  out.push(document.title);
  return out.join(' ');
}"""


async def page_english(page: Page) -> list[str]:
    return english_in(str(await page.evaluate(_VISIBLE_JS)))


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: `make system` installs axe-core@{AXE_VERSION} there "
                             f"(npm install --prefix tests/browser/.axe axe-core@{AXE_VERSION}); never a CDN")
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the console's Content-Security-Policy
        # (script-src 'self') stays on, as people get it, and still axe runs in the page.
        await page.evaluate(_axe_source() + "\n;true")
    found = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
             id: v.id, impact: v.impact, help: v.help,
             nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""")
    return [v for v in found if v["impact"] in BLOCKING]


async def check_page(page: Page, seen: dict[str, list[str]], *, who: str = "", axe: bool = True) -> None:
    """Scan the page for English and (by default) axe's serious/critical violations; record
    what is wrong under `who` and its address in `seen` rather than failing at once, so one
    run names every page's problems."""
    where = (f"{who} " if who else "") + page.url.split("//", 1)[-1].split("/", 1)[-1]
    problems = [f"English: {word}" for word in await page_english(page)]
    if axe:
        problems += [f"axe {v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in await axe_violations(page)]
    seen[where if who else "/" + where] = problems
