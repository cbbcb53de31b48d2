"""A bounded schemathesis run: every operation of the real service's own OpenAPI document, with data that fits its
schema and data that does not, must answer without a server error and as the document says (status codes, content
types, bodies).

`make test` runs the bounded form (XORB_SCHEMATHESIS_EXAMPLES examples per operation and mode, default 8, the same
examples every run). For a longer hunt with fresh examples: `XORB_SCHEMATHESIS_EXAMPLES=500 .venv/bin/pytest -m
schemathesis --timeout 0`.
"""

from __future__ import annotations

import asyncio
import os
import time
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.stack import API_KEY, RedisServer, RunningService, make_settings, service

EXAMPLES = int(os.environ.get("XORB_SCHEMATHESIS_EXAMPLES", "8"))
BOUNDED = "XORB_SCHEMATHESIS_EXAMPLES" not in os.environ
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
AUTH = {"Authorization": f"Bearer {API_KEY}"}

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.schemathesis, pytest.mark.timeout(240)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    # Its own task queue and a playbooks directory of its own: generated alerts start incidents, nothing else's.
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=60)
    async with service(settings) as running:
        yield running


@dataclass
class Report:
    calls: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, base_url: str) -> tuple[int, str | None]:
    """Run one operation in one mode: (requests sent, the failure or None)."""
    calls = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=BOUNDED,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        nonlocal calls
        calls += 1
        case.call_and_validate(base_url=base_url, headers=AUTH, checks=CHECKS, timeout=30)

    try:
        check()
    except Unsatisfiable:
        # Negative mode on an operation that takes nothing that can be wrong (GET /healthz, a free-text path
        # parameter): there is no invalid request to make, which is not a failure.
        return calls, None
    except (Exception, FailureGroup) as exc:  # FailureGroup: schemathesis' checks, a BaseExceptionGroup
        return calls, "".join(traceback.format_exception_only(exc))[-4000:]
    return calls, None


def run_schemathesis(base_url: str) -> Report:
    """Every operation, both modes; blocking (it runs in a thread while the service serves on the event loop)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=10)
    # Every request carries the key (AUTH): a case "without" it would still send it. 401s are tested per route.
    schema.config.generation.update(with_security_parameters=False)
    report = Report()
    for result in schema.get_all_operations():
        operation = result.ok()
        # An operation that takes nothing (no parameter, no body) has no invalid request to make: hypothesis would
        # only search the empty space (slowly, and once until memory ran out).
        takes_input = any(True for _ in operation.iter_parameters()) or bool(operation.body)
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes_input else (GenerationMode.POSITIVE,)
        for mode in modes:
            name = f"{operation.label} [{mode.value}]"
            report.calls[name], failure = fuzz(operation, mode, base_url)
            if failure is not None:
                report.failures[name] = failure
    return report


async def test_every_operation_answers_as_documented_without_server_errors(svc: RunningService) -> None:
    started = time.monotonic()
    report = await asyncio.to_thread(run_schemathesis, svc.base_url)
    elapsed = time.monotonic() - started
    assert not report.failures, "\n\n".join(f"{name}:\n{text}" for name, text in report.failures.items())
    # Every operation of the document was really exercised, the /v1 ones and the operational ones.
    operations = {name.rsplit(" [", 1)[0] for name in report.calls}
    assert {"POST /v1/alerts", "GET /v1/incidents/{incident_id}", "GET /readyz"} <= operations, operations
    positive = {name: count for name, count in report.calls.items() if name.endswith("[positive]")}
    assert all(count > 0 for count in positive.values()), report.calls
    print(f"schemathesis: {sum(report.calls.values())} calls over {len(operations)} operations in {elapsed:.1f}s")
