"""Ingest by URL: what the fetcher refuses (scheme, every non-public address, redirects to one,
size, time, type), what it stores, and that a URL stored already is returned, not stored twice.

A real HTTP server on loopback plays the publisher: it is refused with the default settings,
and fetched with ``ARTICLE_QA_FETCH_PRIVATE_HOSTS`` on.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.encoder import HashingEncoder
from qa.article import parse_html
from service import fetch as fetching
from service.app import create_app
from service.cli import main as cli
from service.fetch import FetchError, fetch, refusal
from service.settings import Settings
from tests.publisher import PAGE, Publisher
from tests.service.conftest import ready_client


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
     "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "::1", "::", "fe80::1", "fc00::1",
     "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a9fe:a9fe"],
)  # fmt: skip
def test_every_non_public_address_is_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_fetched(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    ["http://localhost/", "http://127.1/", "http://0x7f000001/", "http://2130706433/",
     "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/",
     "http://0.0.0.0/"],
)  # fmt: skip
def test_loopback_in_any_spelling_is_refused(url: str) -> None:
    with pytest.raises(FetchError) as refused:
        fetch(url)
    assert refused.value.status == 403
    assert "ARTICLE_QA_FETCH_PRIVATE_HOSTS" in str(refused.value)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)",
            "example.com/story", "http://user:pw@example.com/", "http:///nohost"]
)  # fmt: skip
def test_only_http_and_https_urls_with_a_host_and_no_password_are_fetched(url: str) -> None:
    with pytest.raises(FetchError) as refused:
        fetch(url)
    assert refused.value.status == 422


def test_a_host_is_refused_when_any_of_its_addresses_is_private() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]

    with pytest.raises(FetchError, match=r"10\.1\.2\.3, a private address"):
        fetch("http://news.example/story", resolver=resolver)


def test_the_connection_goes_to_the_address_that_was_checked(publisher: Publisher) -> None:
    """The name is resolved once per hop, and the request carries it in its Host header:
    DNS gets no second say (rebinding)."""
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    page = fetch(
        f"http://news.example:{publisher.port}/hops/1", allow_private=True, resolver=resolver
    )
    assert asked == ["news.example", "news.example"]  # two hops, one lookup each
    assert publisher.hosts == [f"news.example:{publisher.port}"] * 2
    assert page.url == f"http://news.example:{publisher.port}/hops/1"
    assert page.final_url == f"http://news.example:{publisher.port}/story"
    assert page.html and "Ana Ruiz" in page.text


def test_a_redirect_to_a_private_address_is_refused(
    publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hop is checked: the publisher (standing in for a public host) answers, and its
    redirect to the metadata address is refused before any request goes there."""
    checked = fetching.refusal
    monkeypatch.setattr(
        fetching, "refusal", lambda a: None if str(a) == "127.0.0.1" else checked(a)
    )
    with pytest.raises(FetchError) as refused:
        fetch(f"{publisher.base}/to-metadata")
    assert refused.value.status == 403 and "169.254.169.254" in str(refused.value)
    assert publisher.hosts == [f"127.0.0.1:{publisher.port}"]


def test_redirects_are_followed_five_times_at_most(publisher: Publisher) -> None:
    assert "Ana Ruiz" in fetch(f"{publisher.base}/hops/5", allow_private=True).text
    with pytest.raises(FetchError, match="more than 5 redirects") as refused:
        fetch(f"{publisher.base}/hops/6", allow_private=True)
    assert refused.value.status == 502


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/big", 413, "larger than"),
        ("/gzip-bomb", 413, "larger than"),
        ("/image", 422, "image/png"),
        ("/broken", 502, "500"),
        ("/missing", 502, "404"),
    ],
)
def test_what_is_not_a_page_is_refused(
    publisher: Publisher, path: str, status: int, says: str
) -> None:
    with pytest.raises(FetchError, match=says) as refused:
        fetch(publisher.base + path, allow_private=True)
    assert refused.value.status == status


def test_a_stalled_page_fails_within_fifteen_seconds(publisher: Publisher) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError) as refused:
        fetch(f"{publisher.base}/stall", allow_private=True)
    assert refused.value.status == 504
    assert time.monotonic() - started < 15


def test_an_unreachable_site_is_a_bad_gateway() -> None:
    with pytest.raises(FetchError) as refused:
        fetch("http://127.0.0.1:9/", allow_private=True)  # the discard port: nothing listens
    assert refused.value.status == 502


def test_the_charset_comes_from_the_page_when_the_header_has_none(publisher: Publisher) -> None:
    assert "Café opens in Zürich." in fetch(f"{publisher.base}/latin1", allow_private=True).text


# --- over HTTP -------------------------------------------------------------------------------


@pytest.fixture
def private_client(settings: Settings) -> Iterator[TestClient]:
    allowed = settings.model_copy(update={"fetch_private_hosts": True})
    yield from ready_client(create_app(allowed, lambda _: HashingEncoder()))


def test_by_default_a_loopback_url_is_refused_with_a_problem(
    client: TestClient, publisher: Publisher
) -> None:
    response = client.post("/v1/articles", json={"url": f"{publisher.base}/story"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "loopback" in response.json()["detail"]
    assert publisher.hosts == []


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("file:///etc/passwd", 422, "http:// or https://"),
        ("gopher://127.0.0.1/", 422, "http:// or https://"),
        ("http://user:secret@example.com/", 422, "no user name, password"),
        ("http://[::1]/", 422, "http:// or https://"),
        ("http://localhost:22/", 403, "a loopback address"),
        ("http://0x7f000001/", 403, "a loopback address"),
        ("http://10.0.0.7/admin", 403, "a private address"),
        ("http://169.254.169.254/latest/meta-data/", 403, "cloud metadata"),
        ("http://100.100.100.200/", 403, "a shared address"),
    ],
)
def test_by_default_no_private_or_non_http_url_is_fetched(
    client: TestClient, url: str, status: int, says: str
) -> None:
    response = client.post("/v1/articles", json={"url": url})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"]


def test_a_page_behind_a_redirect_is_stored_with_the_text_its_html_gives(
    private_client: TestClient, publisher: Publisher
) -> None:
    url = f"{publisher.base}/hops/2"
    created = private_client.post("/v1/articles", json={"url": url})
    assert created.status_code == 201
    stored = private_client.get(created.headers["Location"]).json()
    assert stored["text"] == parse_html(PAGE).text
    assert stored["url"] == url
    assert "Mayor Ana Ruiz cut the ribbon." in stored["text"]


def test_a_url_stored_already_is_returned_unless_a_refresh_is_asked_for(
    private_client: TestClient, publisher: Publisher
) -> None:
    url = f"{publisher.base}/story"
    first = private_client.post("/v1/articles", json={"url": url})
    again = private_client.post("/v1/articles", json={"url": url + "#comments"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(publisher.hosts) == 1  # not fetched the second time

    publisher.pages["/story"] = PAGE.replace("two years", "three years")
    refreshed = private_client.post("/v1/articles", json={"url": url, "refresh": True})
    assert refreshed.status_code == 201 and refreshed.json()["id"] == first.json()["id"]
    assert "three years" in private_client.get(refreshed.headers["Location"]).json()["text"]
    assert len(private_client.get("/v1/articles").json()["articles"]) == 2  # with the default


@pytest.mark.parametrize(("path", "status"), [("/big", 413), ("/image", 422), ("/broken", 502)])
def test_a_refused_page_is_a_problem_and_stores_nothing(
    private_client: TestClient, publisher: Publisher, path: str, status: int
) -> None:
    response = private_client.post("/v1/articles", json={"url": publisher.base + path})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert len(private_client.get("/v1/articles").json()["articles"]) == 1  # the default only


def test_a_stalled_page_is_a_gateway_timeout_within_thirty_seconds(
    private_client: TestClient, publisher: Publisher
) -> None:
    started = time.monotonic()
    response = private_client.post("/v1/articles", json={"url": f"{publisher.base}/stall"})
    assert response.status_code == 504
    assert time.monotonic() - started < 30


def test_a_source_beside_a_url_is_stored_as_sent(private_client: TestClient) -> None:
    """With text or HTML the URL is where it was published: nothing is fetched."""
    body = {"text": "The council met on Tuesday.", "url": "http://127.0.0.1:9/never"}
    assert private_client.post("/v1/articles", json=body).status_code == 201


def test_the_cli_ingests_a_url(
    publisher: Publisher,
    tmp_path: Path,
    blend_weights: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("service.cli.real_encoder", lambda _: HashingEncoder())
    monkeypatch.setenv("ARTICLE_QA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARTICLE_QA_RANKER_WEIGHTS", str(blend_weights))
    monkeypatch.setenv("ARTICLE_QA_READER", "false")
    assert cli(["ingest", f"{publisher.base}/story"]) == 1
    assert "loopback" in capsys.readouterr().err
    monkeypatch.setenv("ARTICLE_QA_FETCH_PRIVATE_HOSTS", "true")
    assert cli(["ingest", f"{publisher.base}/story"]) == 0
    article_id = capsys.readouterr().out.strip()
    assert cli(["ingest", f"{publisher.base}/story"]) == 0
    assert capsys.readouterr().out.strip() == article_id
