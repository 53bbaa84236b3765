"""A fleet: real ``article-qa serve`` replicas over one real PostgreSQL and one real Redis.

Replica A runs two workers (one port, metrics summed across them), replica B one. Writes through
either are seen by the other at once, the ask limit is counted across both, a replica killed
mid-ingest loses nothing while the other keeps answering, and a multi-worker replica never answers
503 once its /readyz has said 200.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench import free_port
from bench.servers import Postgres, Redis
from bench.soak import Server
from index.encoder import Encoder

pytestmark = pytest.mark.soak

STORY = (
    "Harbour bridge reopens\n\n"
    "The Kettering Harbour Bridge reopened to traffic on Monday after a two-year repair.\n\n"
    "Chief engineer Maren Holt said crews replaced all 48 main cables."
)
# Sentences of the article whose ingest is killed: seconds of embedding.
BIG_SENTENCES = 4000
BIG = "\n\n".join(
    f"Inspectors logged {n} containers at berth {n % 17}." for n in range(BIG_SENTENCES)
)
REMOTE = {"X-Forwarded-For": "203.0.113.50"}  # uvicorn trusts it from loopback


def ready(client: httpx.Client, timeout: float = 180) -> float:
    """Seconds until /readyz says 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if client.get("/readyz").status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{client.base_url} not ready after {timeout} s")


@pytest.fixture
def fleet(
    tmp_path: Path, postgres_server: Postgres, redis_server: Redis, minilm: Encoder
) -> Iterator[tuple[Server, Server]]:
    """Two replicas (A with two workers) over a fresh database; ``minilm`` makes sure the model
    export is cached before they start."""
    env = {
        "ARTICLE_QA_DATABASE_URL": postgres_server.create_database(),
        "ARTICLE_QA_RATE_LIMIT_STORAGE": redis_server.url,
        "ARTICLE_QA_ASK_RATE_LIMIT": "6/minute",
    }
    a = Server(tmp_path / "a", free_port(), {**env, "ARTICLE_QA_WORKERS": "2"}, "replica-a")
    b = Server(tmp_path / "b", free_port(), env, "replica-b")
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def asks(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    key = (
        "article_qa_requests_total",
        (("method", "POST"), ("route", "/v1/ask"), ("status", "200")),
    )
    return samples.get(key, 0.0)


def test_two_replicas_over_one_postgresql_and_one_redis(fleet: tuple[Server, Server]) -> None:
    a_server, b_server = fleet
    with (
        httpx.Client(base_url=a_server.base, timeout=60) as a,
        httpx.Client(base_url=b_server.base, timeout=60) as b,
    ):
        # A multi-worker replica takes no request before it can answer it: after the first
        # 200 from /readyz, a burst on fresh connections sees no 503.
        ready(a)
        burst = [
            httpx.post(f"{a_server.base}/v1/ask", json={"question": "Who wrote this article?"})
            for _ in range(30)
        ]
        assert {r.status_code for r in burst} == {200}
        ready(b)
        assert b.get("/readyz").json()["store"]["backend"] == "postgresql"
        assert b.get("/readyz").json()["rate_limit_storage"] == {"backend": "redis", "ok": True}

        # Ingest on A, answerable on B at once; delete on B, gone from A at once.
        created = a.post("/v1/articles", json={"text": STORY})
        assert created.status_code == 201
        article_id = created.json()["id"]
        answer = b.post(
            "/v1/ask", json={"question": "How many cables were replaced?", "article_id": article_id}
        ).json()
        assert answer["article_id"] == article_id
        assert "48 main cables" in answer["citations"][0]["quote"]
        assert (
            STORY[answer["citations"][0]["start"] : answer["citations"][0]["end"]]
            == (answer["citations"][0]["quote"])
        )
        assert b.delete(f"/v1/articles/{article_id}").status_code == 204
        assert a.get(f"/v1/articles/{article_id}").status_code == 404
        gone = a.post("/v1/ask", json={"question": "How many?", "article_id": article_id})
        assert gone.status_code == 404

        # One ask limit across both replicas (6 a minute for this client address).
        codes = [
            client.post("/v1/ask", json={"question": "Who is Glas?"}, headers=REMOTE).status_code
            for client in (a, b) * 4
        ]
        assert codes == [200] * 6 + [429] * 2

        # Metrics of A's two workers are summed, whichever worker answers the scrape.
        total = asks(scrape(a))
        assert total >= 30 + 3  # the burst and A's share of the limited asks
        assert all(asks(scrape(a)) == total for _ in range(6))  # same figure from any worker
        assert scrape(b)[("article_qa_articles_stored", ())] == 1  # the default article

        # SIGKILL A during an ingest: B keeps answering, nothing committed is lost.
        kept = a.post("/v1/articles", json={"text": STORY, "title": "Kept"}).json()["id"]
        outcome: list[int | str] = []
        posting = threading.Thread(
            target=_post, args=(a_server.base, {"text": BIG, "title": "Big"}, outcome), daemon=True
        )
        posting.start()
        time.sleep(1.0)
        a_server.kill()
        during = [
            b.post("/v1/ask", json={"question": "Who?", "article_id": kept}).status_code
            for _ in range(20)
        ]
        assert set(during) == {200}
        posting.join(60)
        assert outcome == ["cut"]  # the kill came during the ingest
        listed = {x["id"]: x for x in b.get("/v1/articles").json()["articles"]}
        assert kept in listed
        big = [x for x in listed.values() if x["title"] == "Big"]
        assert big == [] or big[0]["sentences"] == BIG_SENTENCES  # absent or whole, not partial

        a_server.start()
        ready(a)
        assert a.get(f"/v1/articles/{kept}").json()["text"] == STORY
        assert a.post("/v1/ask", json={"question": "Who?", "article_id": kept}).status_code == 200


def _post(base: str, body: dict[str, str], outcome: list[int | str]) -> None:
    """The ingest that the kill should cut: its status, or "cut" when the connection broke."""
    try:
        outcome.append(httpx.post(f"{base}/v1/articles", json=body, timeout=120).status_code)
    except httpx.TransportError:
        outcome.append("cut")
