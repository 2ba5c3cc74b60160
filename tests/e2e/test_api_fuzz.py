"""Property-based fuzzing of the whole OpenAPI (schemathesis strategies driven by hypothesis)
against the running platform: valid and invalid requests for every operation, not one 5xx."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis.core.result import Ok

from cadenza.devstack.platform import Platform

pytestmark = pytest.mark.platform

# Examples per operation and mode; FUZZ_EXAMPLES=500 for a long run outside CI.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
def test_no_request_makes_the_api_fail(
    platform: Platform, mode: schemathesis.GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.url}/openapi.json")
    failures: list[str] = []
    calls = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"the schema has an invalid operation: {result}"
            operation = result.ok()

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Case[Any]) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=platform.url, session=session, timeout=60)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} → {response.status_code}: "
                        f"{response.text[:300]}"
                    )

            try:
                call()
            except Unsatisfiable:
                # Nothing invalid to say to it (e.g. GET /health takes no input at all).
                assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
    assert calls >= EXAMPLES, "the schema yielded operations"
    assert failures == [], "\n".join(failures[:20])
