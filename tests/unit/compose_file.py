"""Reading docker-compose.yml the way `docker compose` does, for the tests of the stack: the
YAML (merge keys included), `${VAR}` interpolation with compose's operators and `$$`, and a
service's environment as a container would receive it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
#: What an operator's `.env` gives the variables the stack requires (`${VAR:?...}`).
SAMPLE_ENV = {"FILINGS_BUILD_ID": "b1"}
#: Where compose mounts a service's secrets inside its container (and deploy/k8s its pods').
SECRETS_DIR = "/run/secrets"
#: A variable by this name holds a secret: it must never be given a value in a manifest
#: (docker-compose.yml, deploy/k8s), only a file (tests/unit/test_k8s_manifests.py shares it).
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PWD|SECRET|TOKEN|_KEYS$|ACCESS_KEY")

_VARIABLE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


class MissingVariable(LookupError):
    """A `${VAR:?message}` compose would refuse: it names the variable and says why."""


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def interpolate(value: object, env: dict[str, str] | None = None) -> str:
    """Compose's interpolation of one value: `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
    `${VAR:?message}` and `$$` (a literal `$`)."""
    env = SAMPLE_ENV if env is None else env

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, rest = match.group(2), match.group(3)
        given = env.get(name)
        if op in (":-", ":?"):
            present = bool(given)
        else:
            present = given is not None
        if present:
            return str(given)
        if op in (":?", "?"):
            raise MissingVariable(f"{name}: {rest}")
        if op in (":-", "-"):
            return rest
        return ""

    return _VARIABLE.sub(one, str(value))


def environment(service: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    """The service's environment after interpolation (mapping or list form)."""
    raw = service.get("environment", {}) or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {name: interpolate(value, env) for name, value in raw.items()}


def secret_files(compose: dict[str, Any]) -> dict[str, Path]:
    """Every declared secret and the host file it is read from."""
    return {name: (ROOT / spec["file"]).resolve() for name, spec in compose["secrets"].items()}


def secret_mounts(service: dict[str, Any]) -> dict[str, str]:
    """The service's secrets as compose mounts them: file name under /run/secrets -> secret
    (the short form mounts a secret under its own name, the long form under its `target`)."""
    mounts: dict[str, str] = {}
    for entry in service.get("secrets", []) or []:
        if isinstance(entry, str):
            mounts[entry] = entry
        else:
            mounts[entry.get("target") or entry["source"]] = entry["source"]
    return mounts


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency -> condition (`service_started` for the short form)."""
    deps = service.get("depends_on", {}) or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def one_shot(service: dict[str, Any]) -> bool:
    """A job that runs to completion on every `up` (schema, roles, bucket, migrations, making
    the build current): retried on failure, or never restarted (`"no"`: it waits by itself)."""
    restart = str(service.get("restart", ""))
    return restart.startswith("on-failure") or restart == "no"


def volume_sources(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (or volume name) of the service's mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        mounts[target] = source
    return mounts


def host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The host file behind a path inside the container, through the service's bind mounts."""
    best: tuple[str, str] | None = None
    for target, source in volume_sources(service).items():
        if source.startswith(".") and (container_path == target or container_path.startswith(target.rstrip("/") + "/")):
            if best is None or len(target) > len(best[0]):
                best = (target, source)
    if best is None:
        return None
    target, source = best
    return (ROOT / source / container_path[len(target):].lstrip("/")).resolve()
