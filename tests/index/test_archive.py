"""The archive index: exact under its limit, IVF-SQ8 above it, and kept in step with the store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from index.archive import Archive, ArchiveIndex
from index.encoder import Embedding, HashingEncoder, Vectors
from index.store import ArticleStore
from qa.article import parse_text
from tests.index.conftest import Backend

MODEL = "test/model"


@pytest.fixture
def store(backend: Backend) -> Iterator[ArticleStore]:
    store = backend.open()
    yield store
    store.close()


def save(store: ArticleStore, article_id: str, vectors: Vectors) -> None:
    """An article whose stored vectors are ``vectors`` (the archive reads nothing else)."""
    tokens = HashingEncoder(vectors.shape[1]).encode_documents(["About"] * len(vectors)).tokens
    embedding = Embedding(vectors, tokens)
    store.save(article_id, parse_text(f"About {article_id}."), embedding, MODEL, "2026-11-28")


def found(archive: Archive, store: ArticleStore, query: Vectors) -> tuple[str, int]:
    """The article and sentence of the vector nearest ``query``, after catching up with writes."""
    archive.sync(store)
    _, article_id, sentence = archive.search(query[None, :], 1)[0]
    return article_id, sentence


def clustered(count: int, dim: int = 32, seed: int = 0) -> Vectors:
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(50, dim))
    vectors = topics[rng.integers(0, 50, count)] + rng.normal(0, 0.3, (count, dim))
    unit: Vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return unit


def test_small_archives_are_searched_exactly() -> None:
    vectors = clustered(500)
    index = ArchiveIndex(vectors)
    assert index.exact
    assert len(index) == 500
    hits = index.search(vectors[:3], 1)
    assert hits.ids[:, 0].tolist() == [0, 1, 2]
    assert np.allclose(hits.scores[:, 0], 1.0, atol=1e-5)


def test_large_archives_are_approximate_but_close_to_exact() -> None:
    vectors = clustered(6000)
    approximate = ArchiveIndex(vectors, exact_limit=1000)
    exact = ArchiveIndex(vectors)
    assert not approximate.exact
    assert approximate.memory_bytes() < exact.memory_bytes() / 2  # 8-bit codes, not float32
    queries = clustered(100, seed=1)
    found = approximate.search(queries, 10).ids
    truth = exact.search(queries, 10).ids
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall > 0.9


def test_the_archive_follows_writes_without_building_anew(store: ArticleStore) -> None:
    first, second, third = clustered(40, seed=1), clustered(30, seed=2), clustered(20, seed=3)
    save(store, "first", first)
    save(store, "second", second)
    archive = Archive(MODEL, 32)
    assert found(archive, store, second[7]) == ("second", 7)
    save(store, "third", third)  # added
    assert found(archive, store, third[19]) == ("third", 19)
    save(store, "second", third[:5])  # replaced: its old vectors are gone
    assert found(archive, store, second[7])[0] != "second"
    assert found(archive, store, third[3]) in {("second", 3), ("third", 3)}
    store.delete("first")
    assert found(archive, store, first[0])[0] != "first"
    assert len(archive.index) == 5 + 20
    assert archive.builds == 0


def test_the_archive_becomes_approximate_past_its_limit_then_adds_to_it(
    store: ArticleStore,
) -> None:
    archive = Archive(MODEL, 32, exact_limit=500)
    save(store, "small", clustered(100, seed=1))
    archive.sync(store)
    assert archive.index.exact
    big = clustered(2000, seed=2)
    save(store, "big", big)
    assert found(archive, store, big[1234]) == ("big", 1234)
    assert not archive.index.exact
    assert archive.builds == 1
    late = clustered(50, seed=3)
    save(store, "late", late)
    assert found(archive, store, late[10]) == ("late", 10)
    assert archive.builds == 1  # added to the trained index
    assert len(archive.index) == 2150


def test_the_archive_reads_only_new_articles(
    store: ArticleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(store, "first", clustered(40, seed=1))
    archive = Archive(MODEL, 32)
    archive.sync(store)
    read: list[object] = []
    original = store.all_vectors

    def recording(*args: Any) -> Any:
        read.append(args[2:])
        return original(*args)

    monkeypatch.setattr(store, "all_vectors", recording)
    save(store, "second", clustered(30, seed=2))
    archive.sync(store)
    archive.sync(store)  # nothing written since: nothing read
    assert read == [({"second"},)]


def test_the_archive_sees_writes_by_another_process(store: ArticleStore, backend: Backend) -> None:
    archive = Archive(MODEL, 32)
    archive.sync(store)
    other = backend.open()  # another connection, as another worker, replica or the CLI
    vectors = clustered(10, seed=4)
    save(other, "elsewhere", vectors)
    assert found(archive, store, vectors[4]) == ("elsewhere", 4)
    other.delete("elsewhere")
    archive.sync(store)
    assert len(archive.index) == 0
    other.close()
