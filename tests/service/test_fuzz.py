"""Fuzz the API from its own OpenAPI schema (schemathesis): no generated request gets a 5xx, and
with every check, against a real server, the schema says what the server enforces."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
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
from qa.article import clean_text
from service.app import create_app
from service.schemas import NOT_BLANK, READABLE
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


# The command a client author would run, as in the issue, with a fixed seed so CI is reproducible.
CONTRACT_RUN = (
    "--checks=all",
    "--max-examples=60",
    "--phases=examples,fuzzing,stateful",
    "--seed=12",
    "--generation-deterministic",
    "--workers=1",
    "--no-color",
)


def test_every_check_passes_against_a_real_server(live_server: str, tmp_path: Path) -> None:
    """Every check: valid requests are accepted, invalid ones rejected, every status and body is
    documented; over HTTP to uvicorn, from loopback, so writes need no key."""
    schemathesis_cli = [sys.executable, "-m", "schemathesis.cli", "run"]
    run = subprocess.run(
        [*schemathesis_cli, f"{live_server}/openapi.json", *CONTRACT_RUN],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failure" not in run.stdout, run.stdout[-6000:]


def test_the_schema_patterns_are_what_the_server_strips() -> None:
    """NOT_BLANK spells out str.isspace(), READABLE also what the article parser removes; both
    are plain character classes, read alike by Python, ECMA-262 and Rust regex engines."""
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    assert re.sub(NOT_BLANK, "", every) == "".join(c for c in every if c.isspace())
    assert re.sub(READABLE, "", every) == "".join(c for c in every if not clean_text(c))
