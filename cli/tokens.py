"""Which bearer token a command presents to the filing service (SPEC §12).

A token comes from `--token`, else `FILINGS_TOKEN`, else the token `filings login --save`
kept for one of the roles the command is for. Saved tokens live per role, so whoever plays
several roles (a developer walking a filing through, a reviewer who is also an operator)
logs in once per role and each command picks the token of its role; `--as ROLE` says
which when several would do. They are kept in the user's configuration directory
(`$XDG_CONFIG_HOME/filings/tokens/<role>`, by default `~/.config/filings/tokens/`),
owner-only, never in the project or the data dir: a token is a person's credential.

The tool never verifies a token (only the service can); it reads its claims to name the
caller in messages and to refuse an expired token before anything is sent.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from cli.errors import CliError
from service.principal import Role


def token_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "filings" / "tokens"


def saved_path(role: Role) -> Path:
    return token_dir() / role.value


def save(role: Role, token: str) -> Path:
    """Write the role's token owner-only (0600 in a 0700 directory), replacing the previous one
    atomically: a reader never sees half a token."""
    folder = token_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{role.value}-")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(token + "\n")
        os.replace(temporary, saved_path(role))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return saved_path(role)


def saved(role: Role) -> str | None:
    try:
        return saved_path(role).read_text(encoding="ascii").strip() or None
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


def choose(given: str | None, from_env: bool, roles: Sequence[Role], as_role: Role | None,
           now: datetime | None = None) -> Token:
    """The token for a command of `roles`; refused before sending when there is none or it expired."""
    if given:
        token = Token(given.strip(), "FILINGS_TOKEN" if from_env else "--token")
    else:
        wanted = [as_role] if as_role else list(roles)
        found = next(((r, t) for r in wanted if (t := saved(r))), None)
        if found is None:
            which = " or ".join(r.value for r in wanted) or "any"
            raise CliError(f"no token for the filing service ({which}): {login_hint(wanted)}; nothing was sent")
        token = Token(found[1], str(saved_path(found[0])))
    expires = token.expires_at()
    if expires is not None and expires <= (now or datetime.now(UTC)):
        renew = [Role(token.role)] if token.role in set(Role) else list(roles)
        raise CliError(
            f"the token from {token.source} ({token.role or '?'} {token.sub or '?'}) expired at "
            f"{expires:%Y-%m-%d %H:%M} UTC: {login_hint(renew)}; nothing was sent"
        )
    return token
