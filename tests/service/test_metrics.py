"""GET /metrics: Prometheus text a scraper parses, with the figures the issue names."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bench.servers import Postgres
from index.encoder import HashingEncoder
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import ready_client
from tests.service.test_api import assert_problem

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    """(sample name, sorted labels) -> value, parsed as a Prometheus server parses them."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


def test_requests_answers_ingests_and_articles_are_counted(client: TestClient) -> None:
    before = scrape(client)
    assert value(before, "article_qa_articles_stored") == 1
    client.post("/v1/ask", json={"question": "Who was granted asylum?"})
    client.post("/v1/ask", json={"question": "What is the boiling point of lead?"})
    created = client.post(
        "/v1/articles", json={"text": "The bridge reopened on Monday. It has 40 new cables."}
    )
    article_id = created.json()["id"]
    client.get(f"/v1/articles/{article_id}")
    client.get("/v1/articles/nope")
    client.get("/no/such/path")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("article_qa_requests_total", route="/v1/ask", method="POST", status="200") == 2
    # Labelled by route template, never by the raw path (whose values are unbounded).
    route = "/v1/articles/{article_id}"
    assert delta("article_qa_requests_total", route=route, method="GET", status="200") == 1
    assert delta("article_qa_requests_total", route=route, method="GET", status="404") == 1
    assert delta("article_qa_requests_total", route="unmatched", method="GET", status="404") == 1
    assert not any(article_id in str(labels) for _, labels in after)
    answered = delta("article_qa_answers_total", outcome="answered")
    declined = delta("article_qa_answers_total", outcome="declined")
    assert answered + declined == 2
    assert delta("article_qa_model_seconds_count") == 2
    assert delta("article_qa_model_seconds_sum") > 0
    assert delta("article_qa_ingested_sentences_total") == created.json()["sentences"] == 2
    assert value(after, "article_qa_articles_stored") == 2
    ask_latency = "article_qa_request_duration_seconds_count"
    assert delta(ask_latency, route="/v1/ask", method="POST") == 2


def test_metrics_before_the_model_has_loaded(slow_start: object) -> None:
    app = slow_start.app  # type: ignore[attr-defined]
    with TestClient(app) as client:
        samples = scrape(client)  # answers while loading, without the store's figures
        assert ("article_qa_articles_stored", ()) not in samples
        slow_start.release.set()  # type: ignore[attr-defined]


@pytest.fixture
def on_postgres(settings: Settings, postgres_server: Postgres) -> Iterator[tuple[TestClient, str]]:
    url = postgres_server.create_database()
    app = create_app(
        settings.model_copy(update={"database_url": SecretStr(url)}), lambda _: HashingEncoder()
    )
    for client in ready_client(app):
        yield client, url


def test_a_store_that_goes_away_is_503_and_counted(on_postgres: tuple[TestClient, str]) -> None:
    client, url = on_postgres
    name = url.rsplit("/", 1)[1]
    assert client.get("/readyz").json()["store"] == {"backend": "postgresql", "ok": True}
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    try:
        body = assert_problem(client.post("/v1/ask", json={"question": "Who?"}), 503)
        assert body["detail"].startswith("the article store is unavailable")
        ready = client.get("/readyz")
        assert_problem(ready, 503)
        assert ready.json()["store"]["ok"] is False
        samples = scrape(client)
        assert value(samples, "article_qa_store_errors_total", kind="unavailable") >= 1
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # Back: the pool reconnects, and nothing was lost.
    for _ in range(3):
        if client.post("/v1/ask", json={"question": "Who was granted asylum?"}).status_code == 200:
            break
    assert client.post("/v1/ask", json={"question": "Who was granted asylum?"}).status_code == 200
    assert client.get("/readyz").json()["articles"] == 1


def test_a_replica_started_before_its_database_waits_for_it(
    settings: Settings, postgres_server: Postgres
) -> None:
    url = postgres_server.create_database()
    name = url.rsplit("/", 1)[1]
    admin = postgres_server.url()
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    app = create_app(
        settings.model_copy(update={"database_url": SecretStr(url)}), lambda _: HashingEncoder()
    )
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while "waiting for the article store" not in client.get("/readyz").text:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.1)
        assert_problem(client.get("/readyz"), 503)
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert app.state.runtime.ready.wait(30)
        assert client.get("/readyz").json()["store"] == {"backend": "postgresql", "ok": True}
        assert (
            client.post("/v1/ask", json={"question": "Who was granted asylum?"}).status_code == 200
        )
