"""The whole API fuzzed from its own OpenAPI document (Schemathesis) against the running
service: whatever a caller of the operation's role sends that fits the document, the
service answers without a 5xx (an outage is not fuzzing's concern here: every part is
up), with a documented status, content type, headers and a body matching its schema.

Each operation gets a token of the first role its `x-roles` names (none for public
operations), so generated requests pass authentication and reach validation and the
workflow; a bounded number of examples keeps the whole run well under a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.principal import Role
from tests.service.conftest import Stack, new_appid

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES_PER_OPERATION = 40
BUDGET_SECONDS = 60


def fuzz(base_url: str, tokens: dict[str, str]) -> tuple[list[str], Counter[str]]:
    """Every operation, a bounded number of examples each; answers failures and the statuses seen."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    seen: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        roles = operation.definition.raw.get("x-roles", [])
        token = next((tokens[r] for r in roles if r in tokens), None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)
            seen[f"{operation.label} {response.status_code}"] += 1

        try:
            check()
        except Exception as err:  # one line per failing operation, all of them reported together
            failures.append(f"{operation.label}: {type(err).__name__}: {str(err)[:1500]}")
    return failures, seen


async def test_no_generated_request_breaks_the_service_or_its_document(started: Stack):
    stack = started
    tokens = {
        Role.APPLICANT.value: stack.token(Role.APPLICANT, sub="fuzz-applicant", appids=[new_appid()]),
        Role.PLATFORM_REVIEWER.value: stack.token(Role.PLATFORM_REVIEWER, sub="fuzz-platform"),
        Role.PROVINCE_REVIEWER.value: stack.token(Role.PROVINCE_REVIEWER, sub="fuzz-province", province="冀"),
        Role.VERIFICATION_SITE.value: stack.token(Role.VERIFICATION_SITE, sub="fuzz-site"),
        Role.OPERATOR.value: stack.token(Role.OPERATOR, sub="fuzz-operator"),
    }
    began = time.monotonic()
    # Off the event loop: the worker on it answers the service's queries meanwhile.
    failures, seen = await asyncio.to_thread(fuzz, stack.service.url, tokens)
    took = time.monotonic() - began
    assert not failures, "\n\n".join(failures)
    statuses = Counter(label.rsplit(" ", 1)[1] for label in seen.elements())
    print(f"{sum(seen.values())} requests in {took:.1f} s; statuses {dict(statuses)}")
    # The generated requests got past authentication into validation, the filings and the registry.
    assert sum(seen.values()) >= 200 and {"200", "404", "422"} <= set(statuses), seen
    assert took < BUDGET_SECONDS, f"fuzzing took {took:.0f} s"
