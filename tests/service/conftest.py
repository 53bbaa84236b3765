"""An app wired to the fake encoder, ready before the test body runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from index.encoder import HashingEncoder
from index.ranker import RankerWeights
from service.app import create_app
from service.settings import Settings


def ready_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        assert app.state.runtime.ready.wait(60), "start-up did not finish"
        yield client


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
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from ready_client(create_app(settings, lambda _: HashingEncoder()))
