"""The filing service (SPEC §12): the one door to filings besides the operators' tools.

Only workers and this service hold the payload keys; integrators, reviewers, the
verification site and applicants come here with a bearer token of their role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.settings import Settings
from service.console.install import install_console
from service.context import Services, build_services
from service.docs import render_docs
from service.guards import Gatekeeper
from service.hosts import KnownHosts
from service.openapi import build_openapi
from service.problems import Problem, on_http_exception, on_problem, on_request_validation
from service.routes import applicant, checks, filings, forecasts, materials, on_record, public, reviews, verification
from service.temporal import Temporal, connect_lazily

DESCRIPTION = (
    "ICP mini-program filings (小程序备案) over HTTP. Authenticate with a bearer token (JWT) naming a role: "
    "applicant, platform_reviewer, province_reviewer, verification_site or operator. Errors are RFC 9457 "
    "problems (application/problem+json); rule violations list every field in `errors`. Every POST takes an "
    "Idempotency-Key header. See docs/api.md."
)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The app on `settings`; nothing is connected until it starts (Temporal lazily even then)."""
    svc = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        svc.connected = Temporal(await connect_lazily(settings), settings)
        try:
            yield
        finally:
            svc.engine.dispose()

    app = FastAPI(title="ICP filing service", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.services = svc
    for router in (filings.router, checks.router, reviews.router, applicant.router, verification.router, materials.router,
                   forecasts.router, on_record.router, public.router):
        app.include_router(router)
    app.add_exception_handler(Problem, on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http_exception)  # type: ignore[arg-type]
    app.add_middleware(Gatekeeper, settings=settings.api, verifier=svc.verifier, metrics=svc.metrics)
    install_console(app, settings, svc)  # the console (SPEC §13) at /, its session in front of the gatekeeper
    app.add_middleware(KnownHosts, allowed_hosts=settings.allowed_hosts())  # outermost: before anything else

    def openapi() -> dict[str, Any]:
        return build_openapi(app, DESCRIPTION)

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi()))

    return app
