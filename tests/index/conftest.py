"""Fixtures shared by the index tests: a fake encoder that counts its work, and a library."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.servers import Postgres
from index.encoder import Embedding, Encoder, HashingEncoder, Progress, TokenMatrix, Vectors
from index.library import Library
from index.ranker import RankerWeights
from index.sqlite_store import DB_NAME
from index.store import ArticleStore
from index.stores import open_store


class CountingEncoder:
    """Wraps :class:`HashingEncoder` and records how many texts it embedded."""

    def __init__(self, dim: int = 64, name: str = "test/hashing") -> None:
        self._inner = HashingEncoder(dim=dim, name=name)
        self.name = name
        self.dim = dim
        self.document_calls = 0
        self.documents = 0
        self.queries = 0

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        self.queries += len(texts)
        return self._inner.encode_queries(texts)

    def encode_question(self, text: str) -> tuple[Vectors, TokenMatrix]:
        self.queries += 1
        return self._inner.encode_question(text)

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Embedding:
        self.document_calls += 1
        self.documents += len(texts)
        return self._inner.encode_documents(texts, progress)


@pytest.fixture
def encoder() -> CountingEncoder:
    return CountingEncoder()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def make_library(data_dir: Path, encoder: Encoder, **options: Any) -> Library:
    """A library with the untrained blend weights: the shipped weights are calibrated for the
    real MiniLM, not for the hashing encoder, and are covered by the real-model tests."""
    return Library(data_dir, encoder, RankerWeights.blend(), **options)


@pytest.fixture
def library(data_dir: Path, encoder: CountingEncoder) -> Library:
    return make_library(data_dir, encoder)


def stored_row(data_dir: Path, article_id: str) -> dict[str, Any]:
    """An article's row as stored, read behind the library's back."""
    with sqlite3.connect(data_dir / DB_NAME) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone())


def tamper(data_dir: Path, article_id: str, **columns: Any) -> None:
    """Change stored columns behind the library's back, as a hand edit or damage would."""
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    with sqlite3.connect(data_dir / DB_NAME) as db:
        db.execute(
            f"UPDATE articles SET {assignments} WHERE id = :id", {**columns, "id": article_id}
        )


@dataclass(frozen=True)
class Backend:
    """One store backend under test, with ways to read and damage rows behind its back."""

    name: str
    data_dir: Path
    url: str | None = None

    def open(self) -> ArticleStore:
        return open_store(self.data_dir, self.url)

    def row(self, article_id: str) -> dict[str, Any]:
        if self.url is None:
            return stored_row(self.data_dir, article_id)
        with psycopg.connect(self.url) as db:
            cursor = db.execute("SELECT * FROM articles WHERE id = %s", (article_id,))
            names = [column.name for column in cursor.description or ()]
            found = cursor.fetchone()
            assert found is not None
            return dict(zip(names, found, strict=True))

    def tamper(self, article_id: str, **columns: Any) -> None:
        if self.url is None:
            tamper(self.data_dir, article_id, **columns)
            return
        assignments = ", ".join(f"{name} = %({name})s" for name in columns)
        with psycopg.connect(self.url) as db:
            db.execute(
                f"UPDATE articles SET {assignments} WHERE id = %(id)s",
                {**columns, "id": article_id},
            )

    def execute(self, statement: str) -> None:
        """Run SQL directly on the database (both dialects accept what the tests send)."""
        self.scalar(statement)

    def scalar(self, statement: str) -> Any:
        """The first column of the first row a statement returns (None when it returns none)."""
        if self.url is None:
            with sqlite3.connect(self.data_dir / DB_NAME) as db:
                row = db.execute(statement).fetchone()
        else:
            with psycopg.connect(self.url) as db:
                cursor = db.execute(statement)
                row = cursor.fetchone() if cursor.description else None
        return None if row is None else row[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, data_dir: Path) -> Backend:
    """Each store test runs on both backends; PostgreSQL gets an empty database per test."""
    if request.param == "sqlite":
        return Backend("sqlite", data_dir)
    server: Postgres = request.getfixturevalue("postgres_server")
    return Backend("postgresql", data_dir, server.create_database())
