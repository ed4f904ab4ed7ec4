"""Who may do what to which filing (SPEC §12): roles first (403), then scope (404).

Scope answers 404 — exactly as for a filing that does not exist — where even existence
is not the caller's to know: another applicant's appid, another province's filing. A
refusal happens before any effect, so it leaves nothing behind (only a metric).

Scopes: an applicant reaches the appids of their token; a provincial reviewer the
filings of their province; platform reviewers, the verification site and operators
every filing (each only through the routes of their role).
"""
# No `from __future__ import annotations` here: FastAPI must resolve the dependency closures
# (`Depends(admit)`) in these signatures at run time, and they are not module globals.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.launch import filing_id_for
from filing.messages import FilingStatus
from service.context import Services, services
from service.principal import APPID, Principal, Role
from service.problems import Problem

bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A token of the identity provider, or locally `filings login --role ROLE ...`.",
)

AppidPath = Annotated[str, Path(pattern=APPID.pattern, description="The mini-program's appid, e.g. wx1234567890abcdef.")]


def caller(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None) -> Principal:
    """The caller the gatekeeper verified (`service.guards`); every protected route has one."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a route missing from the gatekeeper's public list: refuse, never serve
        raise Problem(401, "a bearer token is required", kind="unauthenticated",
                      headers={"WWW-Authenticate": 'Bearer realm="filings"'})
    return principal


Caller = Annotated[Principal, Depends(caller)]


def role_in(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting only `roles` (403 for any other)."""
    allowed = ", ".join(r.value for r in roles)

    def dependency(principal: Caller) -> Principal:
        if principal.role not in roles:
            raise Problem(403, f"role {principal.role.value} may not do this; it is for: {allowed}",
                          kind="forbidden-role")
        return principal

    dependency.roles = roles  # type: ignore[attr-defined]  # read by service.openapi (x-roles)
    return dependency


def not_found(appid: str) -> Problem:
    """The one answer for "no such filing" and "not yours to know of"."""
    return Problem(404, f"no filing {filing_id_for(appid)}", kind="not-found")


@dataclass(frozen=True)
class FilingAccess:
    principal: Principal
    appid: str
    #: The status, when the scope check had to read it (provincial reviewers).
    status: FilingStatus | None = None

    @property
    def filing_id(self) -> str:
        return filing_id_for(self.appid)


async def filing_access(principal: Principal, appid: str, svc: Services) -> FilingAccess:
    if principal.role is Role.APPLICANT and appid not in principal.appids:
        raise not_found(appid)
    if principal.role is Role.PROVINCE_REVIEWER:
        status = await svc.temporal.status(appid)  # 404 when there is no such filing
        if status.province != principal.province:
            raise not_found(appid)
        return FilingAccess(principal, appid, status)
    return FilingAccess(principal, appid)


def filing_of(*roles: Role) -> Callable[..., Awaitable[FilingAccess]]:
    """A dependency: the role check (403), then the filing's scope check (404)."""
    admit = role_in(*roles)

    async def dependency(
        appid: AppidPath, principal: Annotated[Principal, Depends(admit)], svc: Annotated[Services, Depends(services)]
    ) -> FilingAccess:
        return await filing_access(principal, appid, svc)

    dependency.roles = roles  # type: ignore[attr-defined]
    return dependency
