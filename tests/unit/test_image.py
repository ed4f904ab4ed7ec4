"""The engine's image and every image the stack pulls, checked without a Docker engine: the
Dockerfile installs exactly requirements.lock (hash-checked) and then the project without
resolving anything; the lock pins every runtime dependency of pyproject.toml, and nothing of
the test or local extras; every pulled image is pinned to a tag read in its official list
(deploy/image-tags.json)."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.unit.compose_file import ROOT, load

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: The image built from this repository's Dockerfile, tagged by build id.
OWN_IMAGE = re.compile(r"icp-filing-engine:\$\{FILINGS_(PREVIOUS_)?BUILD_ID[:?-]")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def lock_entries() -> dict[str, dict[str, Any]]:
    """requirements.lock: name -> version and hashes, per requirement (markers kept)."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    entries: dict[str, dict[str, Any]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        requirement = Requirement(head)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{head}: not pinned with =="
        entry = entries.setdefault(canonicalize_name(requirement.name), {"versions": set(), "hashes": 0})
        entry["versions"].add(Version(spec.version))
        entry["hashes"] += len(re.findall(r"--hash=sha256:[0-9a-f]{64}", block))
    return entries


# --- the Dockerfile --------------------------------------------------------------------------


def test_the_image_installs_the_lock_with_hashes_then_the_project_alone():
    runs = [args for op, args in instructions() if op == "RUN"]
    (locked,) = [r for r in runs if "requirements.lock" in r]
    assert "--require-hashes" in locked and "--only-binary=:all:" in locked and "-r requirements.lock" in locked
    (project,) = [r for r in runs if re.search(r"pip install .*\s\.$", r)]
    assert {"--no-deps", "--no-build-isolation", "--no-index"} <= set(project.split())
    assert runs.index(locked) < runs.index(project)
    copies = [args for op, args in instructions() if op == "COPY"]
    assert "requirements.lock ./" in copies
    copied = {args.split()[0] for args in copies}
    packages = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"packages pyproject installs but the image lacks: {packages - copied}"
    assert {"worker.py", "starter.py"} <= set(" ".join(copies).split())


def test_the_image_is_slim_non_root_healthchecked_and_carries_its_build_id():
    ops = instructions()
    (base,) = [args for op, args in ops if op == "ARG" and args.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", base)
    assert ("USER", "10001:10001") in ops
    (check,) = [args for op, args in ops if op == "HEALTHCHECK"]
    assert '["bash", "-c", ' in check and "GET /readyz" in check  # readiness, no Python started per probe
    assert ("CMD", '["python", "-m", "worker"]') in ops and ("STOPSIGNAL", "SIGTERM") in ops
    # No shell entrypoint turning secret files into variables: the settings read the files.
    assert not [args for op, args in ops if op == "ENTRYPOINT"]
    assert not any("entrypoint" in args for op, args in ops if op == "COPY")
    # Worker Versioning: one build id per image, required, in the environment and a label.
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    assert "ARG BUILD_ID" in final and 'test -n "${BUILD_ID}"' in final
    assert "FILINGS_BUILD_ID=${BUILD_ID}" in final and 'org.opencontainers.image.version="${BUILD_ID}"' in final


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also covers what is under it."""
    verdict = False
    for pattern in dockerignore():
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        if any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            verdict = not negated
    return verdict


def test_the_build_context_holds_no_secret_and_everything_the_image_copies():
    for private in ("secrets/payload_keys.json", ".env", ".env.local", ".data/keys.json", ".venv/bin/python",
                    "tests/conftest.py", ".git/config"):
        assert ignored(private), private
    for op, args in instructions():
        if op == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert not ignored(source), f"the Dockerfile copies {source}, which .dockerignore leaves out"
    assert ignored("deploy/keycloak/icp-filings-realm.json")


# --- the lock --------------------------------------------------------------------------------


def test_every_runtime_dependency_is_pinned_in_the_lock_with_hashes():
    entries = lock_entries()
    for line in PYPROJECT["project"]["dependencies"] + PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{requirement.name} is not in requirements.lock: run deploy/refresh-lock.sh"
        for version in entries[name]["versions"]:
            assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} breaks {line}"
        extras = {"psycopg": {"binary": "psycopg-binary"}, "pyjwt": {"crypto": "cryptography"}}.get(name, {})
        for extra in requirement.extras:
            assert extras.get(extra) in entries, f"{line}: the extra's packages are not locked"
    for name, entry in entries.items():
        assert entry["hashes"] >= len(entry["versions"]), f"{name} has no hash: pip --require-hashes refuses it"


def test_the_lock_leaves_out_the_local_and_test_extras():
    entries = lock_entries()
    extras = PYPROJECT["project"]["optional-dependencies"]
    for line in extras["local"] + extras["test"]:
        name = canonicalize_name(Requirement(line).name)
        if name == canonicalize_name(PYPROJECT["project"]["name"]):
            continue
        assert name not in entries, f"{name} belongs to an extra, not the image"


def test_the_lock_says_how_it_is_refreshed():
    header = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()[:3]
    assert any("deploy/refresh-lock.sh" in line for line in header)
    script = (ROOT / "deploy" / "refresh-lock.sh").read_text(encoding="utf-8")
    assert "--generate-hashes" in script and "--only-binary :all:" in script and "pyproject.toml" in script
    # The image's lock holds no extra; the extras go to requirements-test.lock (tests/unit/test_lock.py).
    image_lock = script.split("--output-file requirements.lock", 1)[0].rsplit('"$uv" pip compile', 1)[1]
    assert "--extra" not in image_lock and "--all-extras" not in image_lock


# --- pulled images ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checked_tags() -> dict[str, Any]:
    return json.loads((ROOT / "deploy" / "image-tags.json").read_text(encoding="utf-8"))["images"]


def pulled_images() -> dict[str, str]:
    """Every image the stack pulls (service -> reference); the Dockerfile's base included."""
    images = {}
    for name, service in load()["services"].items():
        image = str(service["image"])
        if OWN_IMAGE.match(image):
            assert "build" in service or service.get("pull_policy") == "never", f"{name}: {image} is built here"
            continue
        images[name] = image
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, flags=re.MULTILINE)
    images["Dockerfile"] = base
    return images


def test_every_pulled_image_is_pinned_to_a_tag_read_in_its_official_list(checked_tags):
    for where, image in pulled_images().items():
        repository, _, tag = image.rpartition(":")
        assert repository and "$" not in image, f"{where}: {image} must name a fixed tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{where}: {image} is not pinned"
        assert repository in checked_tags, f"{where}: {repository} is in no official list of deploy/image-tags.json"
        entry = checked_tags[repository]
        assert tag in entry["tags"], f"{where}: {tag} was not checked; checked: {entry['tags']}"
        assert any(tag in source["tags"] and source["url"].startswith("https://") for source in entry["sources"])


def test_server_and_admin_tools_share_a_version_and_the_ui_supports_worker_versioning():
    images = pulled_images()
    versions = {image.rpartition(":")[2] for image in images.values()
                if image.startswith(("temporalio/server:", "temporalio/admin-tools:"))}
    assert len(versions) == 1, f"server and admin-tools must share a version: {versions}"
    ui = Version(images["temporal-ui"].rpartition(":")[2])
    assert ui >= Version("2.38.0"), "Worker Versioning needs the Web UI 2.38.0 or later"
    assert Version(versions.pop()) >= Version("1.29.1"), "Worker Versioning needs server 1.29.1 or later"


def test_the_tag_list_names_no_image_the_stack_no_longer_uses(checked_tags):
    used = {image.rpartition(":")[0] for image in pulled_images().values()}
    assert set(checked_tags) == used
