"""Writes never stall or break reads: a slow ingest runs off the event loop, asks keep working."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from index.encoder import Embedding, HashingEncoder, Progress
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import ready_client


class GatedEncoder(HashingEncoder):
    """Embeds documents only once ``gate`` is set, after the default article is indexed."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.waiting = threading.Event()
        self.started = False

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Embedding:
        if self.started:
            self.waiting.set()
            assert self.gate.wait(20)
        self.started = True
        return super().encode_documents(texts, progress)


def test_asks_are_answered_while_an_ingest_is_embedding(settings: Settings) -> None:
    encoder = GatedEncoder()
    for client in ready_client(create_app(settings, lambda _: encoder)):
        with ThreadPoolExecutor(1) as pool:
            created = pool.submit(
                client.post, "/v1/articles", json={"text": "The mayor cut a ribbon on Monday."}
            )
            assert encoder.waiting.wait(10), "the ingest never reached the encoder"
            # The ingest is blocked mid-embedding; the server still answers everything else.
            assert client.get("/healthz").status_code == 200
            answer = client.post("/v1/ask", json={"question": "Who was granted asylum?"})
            assert answer.status_code == 200
            assert answer.json()["article_id"] == "default"
            assert [a["id"] for a in client.get("/v1/articles").json()["articles"]] == ["default"]
            encoder.gate.set()
            assert created.result(20).status_code == 201
            assert len(client.get("/v1/articles").json()["articles"]) == 2


def test_a_deleted_article_is_gone_for_every_reader(settings: Settings) -> None:
    """Deleting through one server is seen by another serving the same data directory."""
    app = create_app(settings, lambda _: HashingEncoder())
    other = create_app(settings, lambda _: HashingEncoder())
    for client in ready_client(app):
        with TestClient(other, client=("127.0.0.1", 1)) as second:
            assert other.state.runtime.ready.wait(60)
            article = client.post("/v1/articles", json={"text": "The mayor cut a ribbon."}).json()
            ask = {"question": "Who cut a ribbon?", "article_id": article["id"]}
            assert second.post("/v1/ask", json=ask).status_code == 200
            assert client.delete(f"/v1/articles/{article['id']}").status_code == 204
            assert second.post("/v1/ask", json=ask).status_code == 404
