"""`filings login`: a bearer token for the filing service (SPEC §12), printed alone on stdout.

Locally the service trusts the signing key `make run` keeps in the data dir; this command
signs with it, so it works only where that key is (an operator's own machine). In
production tokens come from the identity provider and this command refuses.

    export TOKEN=$(filings login --role platform_reviewer --sub r-01)
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8400/v1/filings

With `--save` the token is kept for its role at the service FILINGS_API_URL (or `--api-url`)
names, instead of printed (`cli.tokens`: owner-only, in the user's configuration directory),
and every `filings` command of that role talking to that service uses it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from engine.settings import load_settings
from service.principal import InvalidClaims, Role

app = typer.Typer()
_DURATION = TypeAdapter(timedelta)


def _ttl(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        ttl = _DURATION.validate_python(float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else text)
    except ValidationError:
        raise typer.BadParameter(f"{text!r} is not a duration: use ISO 8601 (PT8H, P1D) or seconds") from None
    if not timedelta(0) < ttl <= timedelta(days=30):
        raise typer.BadParameter("a token lives more than 0 s and at most 30 days (P30D)")
    return ttl


@app.command(rich_help_panel="Operator and integrator")
def login(
    role: Annotated[Role, typer.Option("--role", case_sensitive=False, help=f"{', '.join(Role)}.")],
    sub: Annotated[str | None, typer.Option("--sub", metavar="NAME",
                                            help="Who (recorded on decisions); default: the role's name.")] = None,
    province: Annotated[str | None, typer.Option("--province", metavar="PROVINCE",
                                                 help="A province_reviewer's province: 冀 or 河北.")] = None,
    appid: Annotated[list[str] | None, typer.Option("--appid", metavar="APPID",
                                                    help="An applicant's mini-program (wx…); repeatable.")] = None,
    ttl: Annotated[str | None, typer.Option("--ttl", metavar="DURATION",
                                            help="Lifetime: PT8H, P1D or seconds (default FILINGS_API__TOKEN_TTL).")] = None,
    save: Annotated[bool, typer.Option("--save", help="Keep it for this role's `filings` commands at this service "
                                                      "instead of printing it (~/.config/filings/tokens/<service>/<role>, "
                                                      "0600).")] = False,
    api_url: Annotated[str | None, typer.Option("--api-url", metavar="URL", envvar="FILINGS_API_URL",
                                                help="The filing service the saved token is for "
                                                     "(default http://127.0.0.1:8400).")] = None,
) -> None:
    """Print a bearer token for the local filing service (the token alone, on stdout), or --save it."""
    # JWT and the keys' cryptography load here, not for every `filings` start (`--help`)
    from cli import tokens
    from service.tokens import SigningKeyMissing, issue_token, load_local_signing_key

    err = Console(stderr=True, highlight=False)
    lifetime = _ttl(ttl)
    try:
        settings = load_settings(**({"api_url": api_url} if api_url else {}))
    except SystemExit as exit_:
        err.print(str(exit_.code), markup=False)
        raise typer.Exit(1) from None
    api = settings.api
    if api.auth != "local":
        err.print("error: FILINGS_API__AUTH is oidc: tokens come from the identity provider, not from this command",
                  style="red", markup=False)
        raise typer.Exit(1)
    try:
        key = load_local_signing_key(api.signing_key_path(settings.data_dir))
        token = issue_token(key, issuer=api.issuer, audience=api.audience, sub=sub or role.value, role=role,
                            province=province, appids=appid or [], ttl=lifetime or api.token_ttl)
    except (SigningKeyMissing, InvalidClaims, ValueError) as problem:
        err.print(f"error: {problem}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if not save:
        typer.echo(token)
        return
    try:
        path = tokens.save(role, token, settings.api_url)
    except OSError as problem:
        err.print(f"error: cannot save the token: {problem}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    until = tokens.Token(token, str(path)).expires_at()
    err.print(f"saved a {role.value} token for {sub or role.value} at {settings.api_url} to {path}"
              + (f" (valid until {until:%Y-%m-%d %H:%M} UTC)" if until else ""), markup=False, soft_wrap=True)
