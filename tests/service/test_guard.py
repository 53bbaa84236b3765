"""Who may write and how often a client may ask: the bearer key, loopback-only writes, 429s."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bench import free_port
from bench.servers import Redis
from index.encoder import HashingEncoder
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import LOOPBACK
from tests.service.test_api import assert_problem

REMOTE = ("203.0.113.7", 40000)
KEY = "s3cret-key"
ARTICLE = {"text": "The council met on Monday. It approved the new bridge over the river."}


def app_client(settings: Settings, address: tuple[str, int]) -> Iterator[TestClient]:
    app = create_app(settings, lambda _: HashingEncoder())
    with TestClient(app, client=address) as client:
        assert app.state.runtime.ready.wait(60)
        yield client


@pytest.fixture
def remote(settings: Settings) -> Iterator[TestClient]:
    yield from app_client(settings, REMOTE)


@pytest.fixture
def keyed(settings: Settings) -> Iterator[TestClient]:
    yield from app_client(settings.model_copy(update={"api_key": SecretStr(KEY)}), REMOTE)


def test_without_a_key_writes_from_off_the_machine_are_refused(remote: TestClient) -> None:
    assert (
        "ARTICLE_QA_API_KEY"
        in assert_problem(remote.post("/v1/articles", json=ARTICLE), 403)["detail"]
    )
    assert_problem(remote.delete("/v1/articles/default"), 403)
    assert remote.get("/v1/articles/default").status_code == 200


def test_reads_stay_public(remote: TestClient) -> None:
    assert remote.post("/v1/ask", json={"question": "Who was granted asylum?"}).status_code == 200
    assert remote.get("/v1/articles").status_code == 200
    assert remote.get("/widget.js").status_code == 200


@pytest.mark.parametrize("address", [LOOPBACK, ("::1", 1), ("::ffff:127.0.0.1", 1)])
def test_without_a_key_loopback_may_write(settings: Settings, address: tuple[str, int]) -> None:
    for client in app_client(settings, address):
        created = client.post("/v1/articles", json=ARTICLE)
        assert created.status_code == 201
        assert client.delete(f"/v1/articles/{created.json()['id']}").status_code == 204


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Basic czNjcmV0", 401), ("Bearer ", 401), ("Bearer wrong", 403)],
)
def test_with_a_key_writes_need_the_bearer_token(
    keyed: TestClient, authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = keyed.post("/v1/articles", json=ARTICLE, headers=headers)
    assert_problem(response, status)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(keyed.delete("/v1/articles/default", headers=headers), status)
    assert [a["id"] for a in keyed.get("/v1/articles").json()["articles"]] == ["default"]


def test_with_a_key_the_right_token_writes_from_anywhere(keyed: TestClient) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    created = keyed.post("/v1/articles", json=ARTICLE, headers=headers)
    assert created.status_code == 201
    assert keyed.delete(f"/v1/articles/{created.json()['id']}", headers=headers).status_code == 204


def test_start_up_log_says_who_may_write(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.app"):
        for _ in app_client(settings, LOOPBACK):
            pass
        assert "accepted only from loopback" in caplog.text
        caplog.clear()
        for _ in app_client(settings.model_copy(update={"api_key": SecretStr(KEY)}), LOOPBACK):
            pass
        assert "Bearer" in caplog.text


def test_asks_over_the_limit_get_429_with_retry_after(settings: Settings) -> None:
    limited = settings.model_copy(update={"ask_rate_limit": "3/minute"})
    for client in app_client(limited, REMOTE):
        question = {"question": "Who was granted asylum?"}
        assert [client.post("/v1/ask", json=question).status_code for _ in range(3)] == [200] * 3
        response = client.post("/v1/ask", json=question)
        assert_problem(response, 429)
        assert 1 <= int(response.headers["retry-after"]) <= 60
        # Other endpoints are not counted against the limit.
        assert client.get("/v1/articles").status_code == 200


def test_loopback_is_not_limited_unless_asked(settings: Settings) -> None:
    limited = settings.model_copy(update={"ask_rate_limit": "2/minute"})
    question = {"question": "Who was granted asylum?"}
    for client in app_client(limited, LOOPBACK):
        assert {client.post("/v1/ask", json=question).status_code for _ in range(4)} == {200}
    strict = limited.model_copy(update={"rate_limit_loopback": True})
    for client in app_client(strict, LOOPBACK):
        assert [client.post("/v1/ask", json=question).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]


@pytest.mark.parametrize("rate", ["often", "0/minute", "-1/second"])
def test_a_misspelt_rate_fails_at_start_up(rate: str) -> None:
    with pytest.raises(ValueError, match="is not a rate"):
        Settings(ask_rate_limit=rate)


def test_an_empty_rate_turns_the_limit_off(settings: Settings) -> None:
    unlimited = settings.model_copy(update={"ask_rate_limit": ""})
    question = {"question": "Who was granted asylum?"}
    for client in app_client(unlimited, REMOTE):
        assert {client.post("/v1/ask", json=question).status_code for _ in range(5)} == {200}


# --- the limit shared through Redis ----------------------------------------------------------

QUESTION = {"question": "Who was granted asylum?"}


def test_with_redis_the_limit_holds_across_servers(settings: Settings, redis_server: Redis) -> None:
    """Two apps (as two workers or replicas) over one Redis share one count per client."""
    shared = settings.model_copy(
        update={"ask_rate_limit": "4/minute", "rate_limit_storage": redis_server.url}
    )
    for a in app_client(shared, REMOTE):
        for b in app_client(shared, REMOTE):
            codes = [client.post("/v1/ask", json=QUESTION).status_code for client in (a, b) * 3]
            assert codes == [200, 200, 200, 200, 429, 429]
            assert b.get("/readyz").json()["rate_limit_storage"] == {"backend": "redis", "ok": True}


def test_an_unreachable_redis_fails_open_and_says_so(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    down = settings.model_copy(
        update={
            "ask_rate_limit": "2/minute",
            "rate_limit_storage": f"redis://127.0.0.1:{free_port()}/0",
        }
    )
    for client in app_client(down, REMOTE):
        started = time.monotonic()
        codes = [client.post("/v1/ask", json=QUESTION).status_code for _ in range(5)]
        assert codes == [200] * 5  # served, unlimited
        assert time.monotonic() - started < 5
        assert caplog.text.count("is unreachable") == 1  # once per outage, not per ask
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["rate_limit_storage"] == {"backend": "redis", "ok": False}
        scraped = client.get("/metrics").text
        assert "article_qa_rate_limit_storage_errors_total 5.0" in scraped


def test_a_misspelt_storage_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="memory:// or a redis://"):
        Settings(rate_limit_storage="mysql://x")
