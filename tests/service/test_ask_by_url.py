"""Asking about an article by its URL (the widget's data-article-url): the stored article is
found; one not stored is fetched once, and only from a host in ARTICLE_QA_FETCH_ALLOWED_HOSTS,
with limits of its own; else a 404 that says how to add it.

The publisher is a web server on loopback, so the fetching app also has
``fetch_private_hosts`` on; without it the address check refuses the page (403), as it would
any loopback or private address.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from limits import parse

from index.encoder import HashingEncoder
from service import guard
from service.app import create_app
from service.settings import Settings
from tests.publisher import PAGE, Publisher
from tests.service.conftest import ready_client
from tests.service.test_api import assert_problem

QUESTION = "Who cut the ribbon?"


def fetching_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"fetch_private_hosts": True, "fetch_allowed_hosts": ["127.0.0.1"]}
    )


@pytest.fixture
def fetching(settings: Settings) -> Iterator[TestClient]:
    """From loopback, fetching on demand from 127.0.0.1 (and nothing else)."""
    yield from ready_client(create_app(fetching_settings(settings), lambda _: HashingEncoder()))


def ask(client: TestClient, url: str, **extra: Any) -> Any:
    return client.post("/v1/ask", json={"question": QUESTION, "article_url": url, **extra})


def stored_ids(client: TestClient) -> set[str]:
    return {a["id"] for a in client.get("/v1/articles").json()["articles"]}


def test_a_stored_article_is_found_by_its_url(client: TestClient) -> None:
    url = "https://news.example/bridge"
    body = {"text": "The old bridge reopened on Monday. Mayor Ana Ruiz cut the ribbon.", "url": url}
    created = client.post("/v1/articles", json=body).json()["id"]
    for asked in (url, url + "#comments"):  # the fragment is not part of the address
        answer = ask(client, asked)
        assert answer.status_code == 200, answer.text
        assert answer.json()["article_id"] == created
        assert {c["quote"] for c in answer.json()["citations"]} <= {
            "The old bridge reopened on Monday.",
            "Mayor Ana Ruiz cut the ribbon.",
        }


def test_a_url_not_stored_is_a_404_that_says_how_to_add_it(
    client: TestClient, publisher: Publisher
) -> None:
    detail = assert_problem(ask(client, f"{publisher.base}/story"), 404)["detail"]
    assert "POST /v1/articles" in detail and "ARTICLE_QA_FETCH_ALLOWED_HOSTS" in detail
    assert publisher.hosts == []  # the host is not allowed: nothing was fetched


def test_only_the_hosts_listed_are_fetched_from(fetching: TestClient, publisher: Publisher) -> None:
    """An exact match: localhost is the same machine, but not the host listed."""
    assert_problem(ask(fetching, f"http://localhost:{publisher.port}/story"), 404)
    assert publisher.hosts == []


def test_a_page_from_an_allowed_host_is_fetched_once(
    fetching: TestClient, publisher: Publisher
) -> None:
    url = f"{publisher.base}/story"
    first = ask(fetching, url)
    assert first.status_code == 200, first.text
    article_id = first.json()["article_id"]
    assert article_id in stored_ids(fetching)
    assert fetching.get(f"/v1/articles/{article_id}").json()["url"] == url
    assert len(publisher.hosts) == 1

    again = ask(fetching, url + "#top")
    assert again.json()["article_id"] == article_id
    assert len(publisher.hosts) == 1  # stored now: not fetched again
    # The widget asks its follow-ups by the id the first answer named.
    follow_up = {"question": "When?", "article_id": article_id, "history": [QUESTION]}
    assert fetching.post("/v1/ask", json=follow_up).status_code == 200


def test_the_first_readers_of_a_new_page_cause_one_fetch(
    fetching: TestClient, publisher: Publisher
) -> None:
    publisher.delay_s = 0.5  # the others ask while the first fetch is under way
    url = f"{publisher.base}/story"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: ask(fetching, url), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.json()["article_id"] for a in answers}) == 1
    assert len(publisher.hosts) == 1


@pytest.mark.parametrize(("path", "status"), [("/broken", 502), ("/image", 422), ("/big", 413)])
def test_a_page_that_fails_is_the_fetch_problem_and_stores_nothing(
    fetching: TestClient, publisher: Publisher, path: str, status: int
) -> None:
    before = stored_ids(fetching)
    assert "not fetched" in assert_problem(ask(fetching, publisher.base + path), status)["detail"]
    assert stored_ids(fetching) == before


def test_an_allowed_host_still_passes_the_address_check(
    settings: Settings, publisher: Publisher
) -> None:
    """Listing a host does not lift ARTICLE_QA_FETCH_PRIVATE_HOSTS: its loopback address is
    still refused."""
    allowed = settings.model_copy(update={"fetch_allowed_hosts": ["127.0.0.1"]})
    for client in ready_client(create_app(allowed, lambda _: HashingEncoder())):
        assert "loopback" in assert_problem(ask(client, f"{publisher.base}/story"), 403)["detail"]
    assert publisher.hosts == []


def remote_client(app: FastAPI, host: str) -> TestClient:
    """Another client of an app that is running already (no second start-up)."""
    return TestClient(app, client=(host, 40000))


def test_pages_fetched_on_demand_are_limited_per_client_and_overall(
    settings: Settings, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "FETCHES_PER_CLIENT", parse("2/minute"))
    monkeypatch.setattr(guard, "FETCHES_OVERALL", parse("3/minute"))
    for n in range(5):
        publisher.pages[f"/story-{n}"] = PAGE.replace("two years", f"{n + 2} years")
    app = create_app(fetching_settings(settings), lambda _: HashingEncoder())
    for local in ready_client(app):
        reader, other = remote_client(app, "203.0.113.7"), remote_client(app, "198.51.100.9")
        assert [ask(reader, f"{publisher.base}/story-{n}").status_code for n in (0, 1)] == [200] * 2
        over = ask(reader, f"{publisher.base}/story-2")
        assert "from this address" in assert_problem(over, 429)["detail"]
        assert 1 <= int(over.headers["retry-after"]) <= 60
        # What is stored is still answered: only fetches are counted.
        assert ask(reader, f"{publisher.base}/story-0").status_code == 200
        # Another reader has its own allowance, until the server's is spent.
        assert ask(other, f"{publisher.base}/story-2").status_code == 200
        assert_problem(ask(other, f"{publisher.base}/story-3"), 429)
        # Loopback is exempt from the per-client limit, not from the overall one.
        assert_problem(ask(local, f"{publisher.base}/story-4"), 429)
    assert len(publisher.hosts) == 3


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"article_id": "default", "article_url": "https://news.example/a"}, "not both"),
        ({"article_id": "default", "article_url": None}, "not both"),
        ({"article_url": "ftp://news.example/a"}, "http:// or https://"),
        ({"article_url": "http://user:pw@news.example/"}, "no user name, password"),
    ],
)
def test_an_article_is_named_by_id_or_by_a_fetchable_url(
    client: TestClient, body: dict[str, Any], says: str
) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION, **body})
    assert says in assert_problem(response, 422)["detail"]


def test_a_null_url_is_the_default_article(client: TestClient) -> None:
    answer = client.post("/v1/ask", json={"question": QUESTION, "article_url": None})
    assert answer.json()["article_id"] == "default"


@pytest.mark.parametrize(
    ("value", "hosts"),
    [
        ("", []),
        ("News.Example, www.news.example. ,", ["news.example", "www.news.example"]),
        ('["bücher.example"]', ["xn--bcher-kva.example"]),
    ],
)
def test_fetch_allowed_hosts_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, hosts: list[str]
) -> None:
    monkeypatch.setenv("ARTICLE_QA_FETCH_ALLOWED_HOSTS", value)
    assert Settings().fetch_allowed_hosts == hosts


@pytest.mark.parametrize("value", ["https://news.example", "news.example:8080", "a.example/path"])
def test_fetch_allowed_hosts_are_names_not_urls(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ARTICLE_QA_FETCH_ALLOWED_HOSTS", value)
    with pytest.raises(ValueError, match="not a host name"):
        Settings()
