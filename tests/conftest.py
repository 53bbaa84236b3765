"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from index.encoder import HashingEncoder, SentenceTransformerEncoder


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
def minilm() -> Iterator[SentenceTransformerEncoder]:
    """The real bundled MiniLM, loaded once per test session."""
    yield SentenceTransformerEncoder(threads=1)
