"""schemathesis against the mock's own ``/_admin/openapi.json``: no generated request gets a 500,
every answer has a declared status and the declared shape. Skipped when schemathesis is absent.

Driven through Hypothesis directly (not schemathesis' pytest plugin, which does not load under
this pytest), one test per operation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from simulator.mock import MockServer
from simulator.mock.admin import openapi

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

pytestmark = pytest.mark.integration

# Resetting would race the counters other tests read; a refusal would refuse the next examples'
# connections (tests/integration/test_mock_refuse.py checks its answers against this document).
OPERATIONS = [
    (path, method)
    for path, item in openapi()["paths"].items()
    for method in item
    if path not in ("/_admin/reset", "/_admin/refuse")
]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(seed=3) as server:
        yield server


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_the_mock_honours_its_own_openapi_document(mock: MockServer, path: str, method: str) -> None:
    schema = schemathesis.openapi.from_url(mock.url + "/_admin/openapi.json")
    operation = schema[path][method.upper()]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case: object) -> None:
        # Rules across fields (uid begins with id, ...) are not JSON Schema: a schema-valid body may
        # rightly get a 400, so "positive data accepted" cannot hold; every other check does.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])  # type: ignore[attr-defined]

    check()
    assert mock.stats()["faults"]["errors"] == 0
