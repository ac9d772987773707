"""Property-based fuzzing of every operation in the OpenAPI schema against a live server: no answer is a 5xx.

schemathesis generates valid (positive) and invalid (negative) requests from the schema the server publishes
(the raw-body routes, batch create and validate and the presigned PUTs, describe their bodies there so they are
fuzzed too) and sends them over real HTTP on 127.0.0.1 with a valid API key. Every operation is fuzzed; the
test fails listing each operation that answered a server error, with the request that did it.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from sdk_server import LiveServer

EXAMPLES_PER_OPERATION = 40
RAW_BODY_ROUTES = [("/v1/search/batches", "post"), ("/v1/search/batches/validate", "post"), ("/files/{key}", "put"),
                   ("/contents/v1/uploads/{content_id}", "put")]


@pytest.fixture(scope="module")
def fuzzed(live_server: LiveServer) -> tuple[LiveServer, Any]:
    live_server.create_key("fuzz-other")  # a second tenant exists, as on a real deployment
    return live_server, schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")


def fuzz(server: LiveServer, operation: Any, mode: GenerationMode, sent: list[int]) -> list[str]:
    """Send generated requests of one operation (counted in `sent`); the server errors they caused."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        sent[0] += 1
        try:
            case.call_and_validate(base_url=server.base_url, headers={"X-API-KEY": server.api_key},
                                   checks=[not_a_server_error], timeout=60)
        except AssertionError as exc:  # schemathesis' check failures are AssertionErrors
            failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")

    try:
        run()
    except Unsatisfiable:  # nothing invalid can be made of an operation without inputs (GET /healthz)
        assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


def test_no_operation_answers_a_server_error(fuzzed: tuple[LiveServer, Any]) -> None:
    server, schema = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20, "the schema lists the service's operations"
    sent = [0]
    failures = [failure for operation in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                for failure in fuzz(server, operation, mode, sent)]
    assert not failures, "\n\n".join(failures)
    print(f"{sent[0]} generated requests over {len(operations)} operations, no server error")
    assert sent[0] > 10 * len(operations)


def test_the_raw_body_routes_are_in_the_schema(fuzzed: tuple[LiveServer, Any]) -> None:
    """Batch create, validate and the presigned PUTs describe their bodies, so the fuzzer sends some."""
    paths = fuzzed[1].raw_schema["paths"]
    missing = [f"{method.upper()} {path}" for path, method in RAW_BODY_ROUTES
               if "requestBody" not in paths.get(path, {}).get(method, {})]
    assert not missing, f"raw-body routes without a requestBody in the OpenAPI schema: {missing}"
