"""Which bearer token a command presents to the filing service (SPEC §12).

A token comes from `--token`, else `FILINGS_TOKEN`, else the token `filings login --save`
kept for one of the roles the command is for, at the service the command talks to. Saved
tokens live per service and role: whoever plays several roles (a developer walking a filing
through, a reviewer who is also an operator) logs in once per role and each command picks
the token of its role (`--as ROLE` says which when several would do), and two stacks on one
machine (`FILINGS_API_URL` on 8400 and on 8500) keep their tokens apart: a token of one is
never sent to the other. They are kept in the user's configuration directory
(`$XDG_CONFIG_HOME/filings/tokens/<service>/<role>`, by default `~/.config/filings/tokens/`),
owner-only, never in the project or the data dir: a token is a person's credential.

The tool never verifies a token (only the service can); it reads its claims to name the
caller in messages and to refuse an expired token before anything is sent.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt

from cli.errors import CliError
from service.principal import Role


def token_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "filings" / "tokens"


def service_key(api_url: str) -> str:
    """The directory of a service's tokens: its scheme, host, port and path, readable
    (`http_127.0.0.1_8400`), the default port spelled out so both spellings share it."""
    parts = urlsplit(api_url.strip())
    scheme = (parts.scheme or "http").lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:  # not a port: the URL as written names the directory
        port = 0
    name = f"{scheme}_{parts.hostname or 'localhost'}_{port}{parts.path.rstrip('/')}"
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", name)


def saved_path(role: Role, api_url: str) -> Path:
    return token_dir() / service_key(api_url) / role.value


def save(role: Role, token: str, api_url: str) -> Path:
    """Write the role's token for the service at `api_url` owner-only (0600 in 0700
    directories), replacing the previous one atomically: a reader never sees half a token."""
    path = saved_path(role, api_url)
    for folder in (token_dir().parent, token_dir(), path.parent):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{role.value}-")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(token + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def saved(role: Role, api_url: str) -> str | None:
    try:
        return saved_path(role, api_url).read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def claims(token: str) -> dict[str, Any]:
    """The token's claims, unverified (for messages only); {} when it is not a JWT at all."""
    try:
        found = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}
    return found if isinstance(found, dict) else {}


@dataclass(frozen=True)
class Token:
    value: str
    source: str  # "--token", "FILINGS_TOKEN" or the saved file's path

    @property
    def sub(self) -> str | None:
        sub = claims(self.value).get("sub")
        return sub if isinstance(sub, str) else None

    @property
    def role(self) -> str | None:
        role = claims(self.value).get("role")
        return role if isinstance(role, str) else None

    def expires_at(self) -> datetime | None:
        exp = claims(self.value).get("exp")
        return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None


def login_hint(roles: Sequence[Role]) -> str:
    role = roles[0].value if roles else "ROLE"
    return f"`filings login --role {role} ... --save`, or pass --token / FILINGS_TOKEN"


def choose(given: str | None, from_env: bool, roles: Sequence[Role], as_role: Role | None, api_url: str,
           now: datetime | None = None) -> Token:
    """The token for a command of `roles` at the service at `api_url`; refused before sending
    when there is none or it expired."""
    if given:
        token = Token(given.strip(), "FILINGS_TOKEN" if from_env else "--token")
    else:
        wanted = [as_role] if as_role else list(roles)
        found = next(((r, t) for r in wanted if (t := saved(r, api_url))), None)
        if found is None:
            which = " or ".join(r.value for r in wanted) or "any"
            raise CliError(f"no token for the filing service at {api_url} ({which}): {login_hint(wanted)}; "
                           "nothing was sent")
        token = Token(found[1], str(saved_path(found[0], api_url)))
    expires = token.expires_at()
    if expires is not None and expires <= (now or datetime.now(UTC)):
        renew = [Role(token.role)] if token.role in set(Role) else list(roles)
        raise CliError(
            f"the token from {token.source} ({token.role or '?'} {token.sub or '?'}) expired at "
            f"{expires:%Y-%m-%d %H:%M} UTC: {login_hint(renew)}; nothing was sent"
        )
    return token
