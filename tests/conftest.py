"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench import servers
from index.encoder import Encoder, HashingEncoder
from index.loading import load_encoder
from service.settings import Settings


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's ARTICLE_QA_* settings."""
    for name in list(os.environ):
        if name.startswith("ARTICLE_QA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def fake_encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture(scope="session")
def minilm() -> Iterator[Encoder]:
    """The real bundled MiniLM as the service loads it by default, once per test session (the
    ONNX export is cached where the server keeps it, so the browser and soak servers reuse it)."""
    settings = Settings()
    yield load_encoder(settings.model, settings.backend, 1, settings.model_cache)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[servers.Postgres]:
    """One PostgreSQL cluster for the session (each test takes a database of its own). Fails,
    never skips, when it cannot start: `make test` installs PostgreSQL."""
    with servers.postgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.Redis]:
    with servers.redis() as server:
        yield server
