"""`make test` runs on what the image ships: the Makefile installs requirements.lock (the
image's pins) and requirements-test.lock (the test tools, resolved on those pins), both
hash-checked, then the project without resolving anything; `make lock` makes both files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins(lock: str) -> dict[str, int]:
    """A lock's packages: name -> how many hashes it carries."""
    text = (ROOT / lock).read_text(encoding="utf-8")
    found: dict[str, int] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = block.split("\\", 1)[0].strip()
        if "==" in head and not head.startswith("#"):
            found[canonicalize_name(head.split("==", 1)[0])] = len(re.findall(r"--hash=sha256:[0-9a-f]{64}", block))
    return found


def install_rule() -> list[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rule = re.search(r"^\$\(STAMP\):(.*)\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert rule, "the Makefile's $(STAMP) rule"
    return [rule.group(1), *rule.group(2).splitlines()]


def test_make_test_installs_the_locks_with_hashes_then_the_project_alone():
    prerequisites, *recipe = install_rule()
    assert {"requirements.lock", "requirements-test.lock"} <= set(prerequisites.split())
    pip = [line for line in recipe if "pip install" in line]
    locked = [line for line in pip if "-r requirements.lock" in line]
    assert locked and "--require-hashes" in locked[0] and "-r requirements-test.lock" in locked[0]
    project = [line for line in pip if re.search(r"-e \.(\s|$)", line)]
    assert project and "--no-deps" in project[0] and "--no-build-isolation" in project[0]
    assert pip == [locked[0], project[0]], "nothing else is installed, nothing resolved"


def test_the_test_lock_holds_the_test_tools_on_the_images_pins_and_nothing_twice():
    image, tests = pins("requirements.lock"), pins("requirements-test.lock")
    assert tests and all(tests.values()), "every test package carries its hashes"
    assert not image.keys() & tests.keys(), "a package is pinned in both locks"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    wanted = {canonicalize_name(Requirement(r).name) for r in extras["test"] + extras["local"]}
    wanted.discard("icp-filing-engine")
    assert wanted <= tests.keys() | image.keys(), f"not locked: {wanted - tests.keys() - image.keys()}: run make lock"


def test_make_lock_is_the_one_way_to_both_files():
    script = (ROOT / "deploy" / "refresh-lock.sh").read_text(encoding="utf-8")
    assert "--output-file requirements.lock" in script and "--output-file requirements-test.lock" in script
    assert "--constraint requirements.lock" in script and "--extra test" in script
    for lock in ("requirements.lock", "requirements-test.lock"):
        header = (ROOT / lock).read_text(encoding="utf-8").splitlines()[:3]
        assert any("deploy/refresh-lock.sh" in line for line in header), lock
