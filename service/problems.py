"""Errors as RFC 9457 problem details (`application/problem+json`), one shape for all.

Rule violations (422) carry `errors: [{field, key, message_zh, message_en}]`, the same
`Violation`s the starter and the CLI print; FastAPI's own request-validation errors are
turned into that shape too, with the field path named (`subject.name`, `query.size`,
`header.Idempotency-Key`). Messages never repeat the input: it may be personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from filing import schema_errors
from filing.messages import Violation

PROBLEM_JSON = "application/problem+json"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, with this service's extension members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="A URI reference naming the kind of problem (see docs/api.md).")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[Violation] | None = Field(default=None, description="Every violation, each naming its field (422).")
    why: str | None = Field(default=None, description="Why a decision or message was not applied (409, L9).")
    stage: str | None = Field(default=None, description="The filing's stage, when it explains the refusal.")
    filing_id: str | None = None
    answer: dict[str, Any] | None = Field(
        default=None, description="The SPEC §7 answer a refusal carries (e.g. verify: no_valid_code, attempts left).")


class Problem(Exception):
    """Raise to answer with a problem; `kind` becomes the type URI `/problems/<kind>`."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        errors: Sequence[Violation] = (),
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extensions = {k: v for k, v in extensions.items() if v is not None}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.kind}" if self.kind else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [v.model_dump() for v in self.errors]
        return body | self.extensions

    def response(self, instance: str | None = None) -> JSONResponse:
        return problem_response(self.status, self.body(instance), self.headers)


def problem_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(dict(body), status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def violation(field: str, key: str, zh: str, en: str) -> Violation:
    return Violation(field=field, key=key, message_zh=zh, message_en=en)


def _body_model(request: Request) -> type[BaseModel] | None:
    """The route's JSON body model, so body error paths read like the model's own fields."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    annotation = getattr(getattr(body_field, "field_info", None), "annotation", None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def request_violations(errors: Sequence[Any], body_model: type[BaseModel] | None) -> list[Violation]:
    """FastAPI's validation errors as violations: one per field, `schema.<type>` keys."""
    grouped: dict[str, list[Any]] = {}
    for error in errors:
        where, *loc = error.get("loc") or ("body",)
        if where == "body":
            path = schema_errors.field_path(tuple(loc), body_model) if body_model else _generic_path(loc)
            path = path if loc else "body"
        elif where == "header" and loc and str(loc[0]).lower() == IDEMPOTENCY_HEADER.lower():
            path = f"header.{IDEMPOTENCY_HEADER}"
        else:
            path = f"{where}.{_generic_path(loc)}" if loc else str(where)
        grouped.setdefault(path, []).append(error)
    found = []
    for path, listed in grouped.items():
        zh = "；或".join(dict.fromkeys(schema_errors._zh(e) for e in listed))  # noqa: SLF001 (see docs/api.md)
        en = "; or ".join(dict.fromkeys(str(e.get("msg", "invalid")) for e in listed))
        found.append(violation(path, f"schema.{listed[0].get('type', 'invalid')}", zh, en))
    return found


def _generic_path(loc: Sequence[Any]) -> str:
    path = ""
    for item in loc:
        path += f"[{item}]" if isinstance(item, int) else (f".{item}" if path else str(item))
    return path


async def on_request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    violations = request_violations(exc.errors(), _body_model(request))
    missing_key = [v for v in violations if v.field == f"header.{IDEMPOTENCY_HEADER}"]
    if missing_key:
        return Problem(
            400, f"every mutating call takes an {IDEMPOTENCY_HEADER} header: 1 to 255 visible ASCII characters, "
            "unique per intended effect (a UUID is a good choice)",
            kind="idempotency-key-required", errors=missing_key,
        ).response(request.url.path)
    return Problem(
        422, f"the request breaks {len(violations)} rule(s); each is listed in errors",
        kind="validation", title="Invalid request", errors=violations,
    ).response(request.url.path)


async def on_problem(request: Request, exc: Problem) -> JSONResponse:
    return exc.response(request.url.path)


async def on_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own 404 (no such route) and 405, as problems too."""
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}; the routes are listed at /docs"
    return Problem(exc.status_code, detail, headers=exc.headers).response(request.url.path)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for a route's problem answers (moved to problem+json by `service.openapi`)."""
    return {status: {"model": ProblemDetail, "description": DESCRIPTIONS.get(status, HTTPStatus(status).phrase)}
            for status in statuses}


DESCRIPTIONS = {
    400: "The Idempotency-Key header is missing or malformed.",
    401: "No valid bearer token (missing, expired, wrong issuer or audience, bad signature).",
    403: "Outside the caller's role.",
    404: "No such filing, or not the caller's to know of.",
    409: "Refused by the filing as it stands (with why), or the Idempotency-Key is still in flight.",
    413: "The body is larger than allowed.",
    422: "Violations, each naming its field, rule key and messages in Chinese and English.",
    429: "Too many SMS code entries; retry after the Retry-After header's seconds.",
    503: "Temporal, the registry or the material store is unreachable; nothing was done.",
    504: "Temporal did not answer in time; the effect may or may not have happened (retry with the same key).",
}
