"""An app wired to the fake encoder, ready before the test body runs."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bench import free_port
from index.encoder import Encoder, HashingEncoder
from index.ranker import RankerWeights
from service import fetch as fetching
from service.app import create_app
from service.fetch import FetchError, refusal
from service.fetch import resolve as real_resolve
from service.settings import Settings
from tests.publisher import Publisher, publishing

# Requests come from loopback, as from a local editor: writes need no key there.
LOOPBACK = ("127.0.0.1", 50000)


def ready_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=LOOPBACK) as client:
        assert app.state.runtime.ready.wait(60), "start-up did not finish"
        yield client


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest by URL never leaves the machine in tests, whatever URL a fuzzer makes up: address
    literals in any spelling and localhost resolve as usual, other names as 127.0.0.1, and a
    public address (or one that does not resolve) becomes 127.0.0.1 too."""

    def resolve(host: str, port: int) -> list[str]:
        try:
            if host != "localhost":
                socket.getaddrinfo(host, port, flags=socket.AI_NUMERICHOST)
            found = real_resolve(host, port)
        except (socket.gaierror, UnicodeError, FetchError):
            return ["127.0.0.1"]
        return [a if refusal(ipaddress.ip_address(a)) else "127.0.0.1" for a in found]

    monkeypatch.setattr(fetching, "resolve", resolve)


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    """A publisher's web server on loopback (tests.publisher)."""
    with publishing() as state:
        yield state


@pytest.fixture
def blend_weights(tmp_path: Path) -> Path:
    """Untrained blend weights: the shipped ones are calibrated for MiniLM, not the fake encoder."""
    path = tmp_path / "blend-weights.json"
    RankerWeights.blend().save(path)
    return path


@pytest.fixture
def settings(tmp_path: Path, blend_weights: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        max_article_chars=50_000,
        max_body_bytes=200_000,
        ranker_weights=blend_weights,
        reader=False,  # the reader is trained for MiniLM's first stage, not the fake encoder's
    )


@dataclass
class SlowStart:
    """An app whose model loads only when ``release`` is set: for the not-ready state."""

    app: FastAPI
    release: threading.Event


@pytest.fixture
def slow_start(settings: Settings) -> Iterator[SlowStart]:
    release = threading.Event()

    def slow_encoder(_: Settings) -> Encoder:
        release.wait(10)
        return HashingEncoder()

    yield SlowStart(create_app(settings, slow_encoder), release)
    release.set()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from ready_client(create_app(settings, lambda _: HashingEncoder()))


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """The app behind a real uvicorn on a free loopback port, as ``article-qa serve`` runs it
    (httptools, uvloop), with the fake encoder and ready; yields its base URL. For what
    TestClient cannot show: sockets, the HTTP parser, real clients."""
    app = create_app(settings, lambda _: HashingEncoder())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    assert app.state.runtime.ready.wait(60), "start-up did not finish"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
