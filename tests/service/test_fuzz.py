"""Fuzz the API from its own OpenAPI schema (schemathesis): no generated request gets a 5xx."""

from __future__ import annotations

from collections import Counter
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from pydantic import SecretStr
from schemathesis import Case, Response
from schemathesis.checks import not_a_server_error

from index.encoder import HashingEncoder
from service.app import create_app
from service.settings import Settings

# schemathesis' ASGI client always connects as "testclient", never from loopback, so writes
# need the key, as from any remote caller.
API_KEY = "fuzz-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Reproducible in CI: the same examples on every run, nothing replayed from a local database.
FUZZ = hypothesis.settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


# The schema only: an app touches nothing (data directory, model) until it starts.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """An app started through schemathesis and ready: a request before the model has loaded is a
    deliberate 503. schemathesis ends the app's lifespan after each test, so one app per test."""
    fuzzed = settings.model_copy(
        update={
            "api_key": SecretStr(API_KEY),
            "ask_rate_limit": "",  # every generated question comes from the same address
        }
    )
    app = create_app(fuzzed, lambda _: HashingEncoder())
    schema["/healthz"]["GET"].Case().call(app=app)
    assert app.state.runtime.ready.wait(60), "start-up did not finish"
    return app


@schema.parametrize()
@FUZZ
def test_no_generated_request_gets_a_server_error(case: Case[Any], app: FastAPI) -> None:
    case.call_and_validate(app=app, headers=AUTH, checks=[not_a_server_error])


def test_no_sequence_of_writes_and_reads_gets_a_server_error(app: FastAPI) -> None:
    """Stateful: ids that POST /v1/articles returns feed GET and DELETE, so writes really run."""
    seen: Counter[tuple[str, int]] = Counter()

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"app": app, "headers": AUTH}

        def after_call(self, response: Response, case: Case[Any]) -> None:
            super().after_call(response, case)
            seen[case.method.upper(), response.status_code] += 1

        def validate_response(
            self, response: Response, case: Case[Any], *_: Any, **__: Any
        ) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    Scenario.run(settings=hypothesis.settings(FUZZ, max_examples=40, stateful_step_count=8))
    assert seen["POST", 201] and seen["DELETE", 204], seen
