"""Property tests against the live OpenAPI schema (schemathesis): for every operation, generated requests,
valid and invalid, never get a 5xx, and every response matches the documented status codes, content type
and schema. The requests carry the admin key of a seeded tenant, so they reach real objects and real writes."""

from __future__ import annotations

import os

import pytest
import schemathesis
from conftest import auth
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("INVOICEFLOW_SCHEMATHESIS_EXAMPLES", "6"))  # per operation and mode


def run_operation(operation, mode: GenerationMode, headers: dict[str, str], failures: list[str]) -> int:
    count = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        nonlocal count
        count += 1
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # noqa: BLE001 - collected, so one run reports every operation's failures
            failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: "
                            f"{type(exc).__name__}: {str(exc)[:600]}")

    try:
        check()
    except Unsatisfiable:  # nothing to make invalid (no parameters or body): only positive cases exist
        assert mode is GenerationMode.NEGATIVE, operation.path
    return count


@pytest.mark.slow
def test_generated_requests_conform_to_the_schema(world, app):
    _, alpha, _ = world
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = auth(alpha.keys["admin"])
    failures: list[str] = []
    total = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            total += run_operation(operation, mode, headers, failures)
    assert total >= 300
    assert not failures, "\n".join(dict.fromkeys(failures))
