"""The article store on both backends: atomic save, checked load, stale detection, ids, delete,
schema versions, crashes; and the SQLite specifics (WAL, old-layout import)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from bench.servers import Postgres
from index.encoder import HashingEncoder
from index.postgres_store import PostgresStore
from index.sqlite_store import DB_NAME, SqliteStore
from index.store import (
    SCHEMA_VERSION,
    ArticleStore,
    StaleIndexError,
    checksum,
    tokens_checksum,
    valid_id,
)
from qa.article import parse_text, search_text
from qa.errors import ArticleNotFoundError, IndexMismatchError, StoreUnavailableError
from qa.models import Article
from qa.segment import segment
from tests.index.conftest import Backend, stored_row

MODEL = "test/hashing"
DIM = 64
ID = "budget-1"
CREATED = "2024-04-05T10:00:00+00:00"
TEXT = (
    "Council Passes Budget\n\n"
    "The council approved the budget on Monday. Taxes will rise next year.\n\n"
    "By Jane Doe"
)


@pytest.fixture
def article() -> Article:
    return parse_text(TEXT, url="https://example.com/b")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(backend: Backend) -> Iterator[ArticleStore]:
    store = backend.open()
    yield store
    store.close()


def save(store: ArticleStore, article: Article, article_id: str = ID, model: str = MODEL) -> str:
    """Embed and save an article as the library does; returns the new revision."""
    sentences = segment(article).sentences
    encoder = HashingEncoder(dim=DIM, name=model)
    embedding = encoder.encode_documents([search_text(s.text, s.kind) for s in sentences])
    return store.save(article_id, article, embedding, model, CREATED)


# --- round trip ------------------------------------------------------------------------------


def test_save_load_round_trip(store: ArticleStore, article: Article) -> None:
    revision = save(store, article)
    stored = store.load(ID, MODEL, DIM)
    assert stored.article == article
    assert stored.article.byline == "Jane Doe"
    assert stored.article.url == "https://example.com/b"
    assert stored.index.ntotal == 4
    assert stored.index.d == DIM
    assert stored.created == CREATED
    assert stored.revision == revision == store.revision(ID)
    texts = [search_text(s.text, s.kind) for s in segment(article).sentences]
    tokens = HashingEncoder(dim=DIM).encode_documents(texts).tokens
    assert np.array_equal(stored.tokens.offsets, tokens.offsets)
    assert np.array_equal(stored.tokens.data, tokens.data)
    assert np.array_equal(stored.tokens.scales, tokens.scales)


def test_sqlite_is_one_database_file_in_wal_mode(data_dir: Path, article: Article) -> None:
    store = SqliteStore(data_dir)
    save(store, article)
    with sqlite3.connect(data_dir / DB_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    row = stored_row(data_dir, ID)
    assert (row["model"], row["dim"], row["sentences"]) == (MODEL, DIM, 4)
    assert row["text"] == TEXT
    assert len(row["vectors"]) == 4 * DIM * 4
    store.close()


def test_rows_hold_what_was_saved(backend: Backend, store: ArticleStore, article: Article) -> None:
    save(store, article)
    row = backend.row(ID)
    assert (row["model"], row["dim"], row["sentences"]) == (MODEL, DIM, 4)
    assert row["text"] == TEXT
    assert len(bytes(row["vectors"])) == 4 * DIM * 4


def test_non_ascii_text_round_trips(store: ArticleStore) -> None:
    article = parse_text("Lula da Silva — Luiz Inácio — said “no” to 北京. Ça va.")
    save(store, article)
    assert store.load(ID, MODEL, DIM).article == article


def test_save_replaces_an_existing_article_with_a_new_revision(
    store: ArticleStore, article: Article
) -> None:
    first = save(store, article)
    other = parse_text("A different story entirely. It has two sentences.")
    second = save(store, other)
    stored = store.load(ID, MODEL, DIM)
    assert stored.article == other
    assert stored.index.ntotal == 2
    assert first != second == stored.revision
    assert store.ids() == [ID]


def test_ids_exists_and_revision(store: ArticleStore, article: Article) -> None:
    assert store.ids() == []
    save(store, article, "b-second")
    save(store, article, "a-first")
    assert store.ids() == ["a-first", "b-second"]
    assert store.exists("a-first")
    assert not store.exists("c-third")
    assert store.revision("c-third") is None


def test_writes_are_seen_by_another_store_on_the_same_database(
    backend: Backend, store: ArticleStore, article: Article
) -> None:
    other = backend.open()
    revision = save(store, article)
    assert other.revision(ID) == revision
    other.delete(ID)
    assert store.revision(ID) is None
    other.close()


def test_every_write_moves_the_generation(store: ArticleStore, article: Article) -> None:
    seen = [store.generation()]
    save(store, article)
    save(store, article)  # a replace is a write too
    store.delete(ID)
    with pytest.raises(ArticleNotFoundError):
        store.delete(ID)  # nothing deleted: nothing moves
    seen.append(store.generation())
    assert seen[1] - seen[0] == 3


def test_count(store: ArticleStore, article: Article) -> None:
    assert store.count() == 0
    save(store, article, "one")
    save(store, article, "two")
    assert store.count() == 2


# --- schema versions -------------------------------------------------------------------------


def test_a_database_from_before_schema_versions_is_migrated(
    backend: Backend, store: ArticleStore, article: Article
) -> None:
    save(store, article)
    store.close()
    backend.execute("DELETE FROM meta WHERE key = 'schema_version'")  # as 0.2 left it
    reopened = backend.open()
    assert backend.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == SCHEMA_VERSION
    assert reopened.load(ID, MODEL, DIM).article == article
    reopened.close()


def test_a_version_1_database_gains_token_columns_and_its_rows_are_stale(
    backend: Backend, store: ArticleStore, article: Article
) -> None:
    """Version 1 stored no token vectors: its rows are kept, and rebuilt (stale) once."""
    save(store, article)
    store.close()
    backend.execute("ALTER TABLE articles DROP COLUMN tokens")
    backend.execute("ALTER TABLE articles DROP COLUMN tokens_sha256")
    backend.execute("UPDATE meta SET value = 1 WHERE key = 'schema_version'")
    reopened = backend.open()
    assert backend.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == SCHEMA_VERSION
    assert reopened.stale_ids(MODEL, DIM) == [ID]
    assert reopened.revisions(MODEL, DIM) == {}  # archive search skips it until rebuilt
    with pytest.raises(StaleIndexError, match="no token vectors") as info:
        reopened.load(ID, MODEL, DIM)
    assert info.value.article == article
    save(reopened, article)
    assert reopened.load(ID, MODEL, DIM).tokens.offsets.size == 5
    reopened.close()


def test_a_newer_schema_is_refused_and_left_alone(
    backend: Backend, store: ArticleStore, article: Article
) -> None:
    save(store, article)
    store.close()
    backend.execute(f"UPDATE meta SET value = {SCHEMA_VERSION + 1} WHERE key = 'schema_version'")
    with pytest.raises(IndexMismatchError, match="newer article-qa") as info:
        backend.open()
    assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)
    assert backend.row(ID)["text"] == TEXT  # nothing was changed or lost


def test_reads_survive_a_postgresql_restart(postgres_server: Postgres, article: Article) -> None:
    """Connections the server dropped (a restart, a failover) are replaced, not served as 503s."""
    url = postgres_server.create_database()
    store = PostgresStore(url)
    revision = save(store, article)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    assert store.revision(ID) == revision
    assert store.load(ID, MODEL, DIM).article == article
    store.close()


def test_an_unreachable_postgresql_is_a_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="cannot connect") as info:
        PostgresStore("postgresql://nobody:secret@127.0.0.1:9/articles")
    assert "postgresql://127.0.0.1:9/articles" in str(info.value)
    assert "secret" not in str(info.value)
    assert time.monotonic() - started < 30


# --- stale vectors ---------------------------------------------------------------------------


def test_other_model_is_stale(store: ArticleStore, article: Article) -> None:
    save(store, article)
    with pytest.raises(StaleIndexError, match="model is 'test/hashing'") as info:
        store.load(ID, "other/model", DIM)
    assert info.value.article == article
    assert info.value.created == CREATED
    assert not info.value.text_changed


def test_other_dimension_is_stale(store: ArticleStore, article: Article) -> None:
    save(store, article)
    with pytest.raises(StaleIndexError, match="dim is 64, expected 32"):
        store.load(ID, MODEL, 32)


def test_other_segmenter_version_is_stale(
    backend: Backend, store: ArticleStore, article: Article
) -> None:
    save(store, article)
    backend.tamper(ID, segmenter_version=0)
    with pytest.raises(StaleIndexError, match="segmenter_version"):
        store.load(ID, MODEL, DIM)


def test_edited_text_is_stale(backend: Backend, store: ArticleStore, article: Article) -> None:
    save(store, article)
    backend.tamper(ID, text=TEXT.replace("Monday", "Friday"))
    with pytest.raises(StaleIndexError, match="text changed") as info:
        store.load(ID, MODEL, DIM)
    assert info.value.text_changed
    assert "Friday" in info.value.article.text


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ({"vectors": b"\x00" * 10}, "vectors are damaged"),  # truncated
        ({"vectors": b""}, "vectors are damaged"),
        ({"sentences": 3}, "vectors are damaged"),  # count disagrees with the vectors
        ({"vectors_sha256": "0" * 64}, "vectors are damaged"),  # changed after being written
        ({"tokens_sha256": "0" * 64}, "token vectors are damaged"),
    ],
)
def test_damaged_vectors_are_stale(
    backend: Backend, store: ArticleStore, article: Article, damage: dict[str, Any], reason: str
) -> None:
    save(store, article)
    backend.tamper(ID, **damage)
    with pytest.raises(StaleIndexError, match=reason) as info:
        store.load(ID, MODEL, DIM)
    assert info.value.article == article


def test_token_vectors_must_be_their_sentences_and_their_vectors(
    backend: Backend, store: ArticleStore, article: Article
) -> None:
    """Token vectors with a right checksum are still stale when they are not four sentences'
    or when the vectors were rewritten without them (a version-1 replica during an upgrade)."""
    save(store, article)
    vectors_sha256 = backend.row(ID)["vectors_sha256"]
    backend.tamper(ID, tokens=b"short", tokens_sha256=tokens_checksum(vectors_sha256, b"short"))
    with pytest.raises(StaleIndexError, match="token vectors are damaged"):
        store.load(ID, MODEL, DIM)
    save(store, article)
    other = np.ones((4, DIM), np.float32).tobytes()
    backend.tamper(ID, vectors=other, vectors_sha256=checksum(other))
    with pytest.raises(StaleIndexError, match="token vectors are damaged"):
        store.load(ID, MODEL, DIM)


# --- unreadable articles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "blocks",
    [
        "{not json",
        '"just a string"',
        "[[0, 6, 'nonsense']]",
        '[[0, 6, "nonsense"]]',
        '[[0, 6000, "body"]]',
        '[[4, 2, "body"]]',
        "[[0, 6]]",
    ],
)
def test_unreadable_blocks(
    backend: Backend, store: ArticleStore, article: Article, blocks: str
) -> None:
    save(store, article)
    backend.tamper(ID, blocks=blocks)
    with pytest.raises(IndexMismatchError, match="unreadable") as info:
        store.load(ID, MODEL, DIM)
    assert not isinstance(info.value, StaleIndexError)


def test_a_file_that_is_not_a_database(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / DB_NAME).write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(IndexMismatchError, match="not a readable article database"):
        SqliteStore(data_dir)


def test_unknown_id_is_not_found(store: ArticleStore) -> None:
    with pytest.raises(ArticleNotFoundError):
        store.load("never-saved", MODEL, DIM)


# --- ids -------------------------------------------------------------------------------------

BAD_IDS = [
    "../../etc/passwd",
    "..",
    "",
    "a" * 65,
    "x" * 10_000,
    "a/b",
    "a\\b",
    ".tmp-x",
    "-leading-dash",
    "with space",
    "ümlaut",
    "new\nline",
    "id\x00nul",
    "x'; DROP TABLE articles; --",
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_are_never_stored(store: ArticleStore, article: Article, bad: str) -> None:
    save(store, article)
    assert not valid_id(bad)
    assert not store.exists(bad)
    with pytest.raises(ArticleNotFoundError) as info:
        store.load(bad, MODEL, DIM)
    assert len(str(info.value)) < 200
    with pytest.raises(ArticleNotFoundError):
        store.delete(bad)
    with pytest.raises(ArticleNotFoundError):
        save(store, article, article_id=bad)
    assert store.ids() == [ID]
    assert store.load(ID, MODEL, DIM).article == article


@pytest.mark.parametrize("good", ["a", "default", "A1_b-2", "9" * 64, "mexico-grants-1a2b3c4d"])
def test_valid_ids(good: str) -> None:
    assert valid_id(good)


def test_delete(store: ArticleStore, article: Article) -> None:
    save(store, article)
    save(store, article, "keep-me")
    store.delete(ID)
    assert not store.exists(ID)
    assert store.ids() == ["keep-me"]
    with pytest.raises(ArticleNotFoundError):
        store.load(ID, MODEL, DIM)
    with pytest.raises(ArticleNotFoundError):
        store.delete(ID)
    assert store.load("keep-me", MODEL, DIM).article == article


# --- the old directory layout ----------------------------------------------------------------


def _legacy_article(root: Path, article_id: str, article: Article) -> None:
    folder = root / article_id
    folder.mkdir(parents=True)
    data = {
        "id": article_id,
        "title": article.title,
        "url": article.url,
        "byline": article.byline,
        "publisher": article.publisher,
        "created": CREATED,
        "text": article.text,
        "blocks": [[b.start, b.end, b.kind.value] for b in article.blocks],
    }
    (folder / "article.json").write_text(json.dumps(data), encoding="utf-8")


def test_old_directories_are_imported_once(data_dir: Path, article: Article) -> None:
    store = SqliteStore(data_dir)
    legacy = data_dir / "articles"
    _legacy_article(legacy, "old-one", article)
    (legacy / "broken").mkdir()
    (legacy / "broken" / "article.json").write_text("{nope", encoding="utf-8")
    assert store.import_directories(legacy) == 1
    assert not legacy.exists()
    assert store.ids() == ["old-one"]
    # Imported without vectors: the first load asks for them to be built from the text.
    with pytest.raises(StaleIndexError) as info:
        store.load("old-one", MODEL, DIM)
    assert info.value.article == article
    assert info.value.created == CREATED


# --- crashes ---------------------------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from index.encoder import HashingEncoder
from index.stores import open_store
from qa.article import parse_text
from qa.segment import segment

store = open_store(Path(sys.argv[1]), sys.argv[2] or None)
encoder = HashingEncoder(dim=64, name="test/hashing")
print("ready", flush=True)
n = 0
while True:
    n += 1
    text = " ".join(f"Sentence {i} of version {n} is here." for i in range(400))
    article = parse_text(text, title=f"Version {n}")
    vectors = encoder.encode_documents([s.text for s in segment(article).sentences])
    store.save(f"a{n % 3}", article, vectors, "test/hashing", "now")
    if n % 5 == 0:
        store.delete(f"a{n % 3}")
"""


def test_kill_9_while_writing_leaves_every_article_whole(backend: Backend) -> None:
    """SIGKILL a process in a tight save/delete loop; every row left behind loads cleanly."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", WRITER, str(backend.data_dir), backend.url or ""]
    for delay in (0.3, 0.55, 0.8):
        with subprocess.Popen(command, stdout=subprocess.PIPE, env=env) as writer:
            assert writer.stdout is not None
            assert writer.stdout.readline() == b"ready\n"
            time.sleep(delay)
            writer.send_signal(signal.SIGKILL)
        store = backend.open()
        for article_id in store.ids():
            stored = store.load(article_id, "test/hashing", 64)
            assert stored.index.ntotal == len(segment(stored.article).sentences) == 400
        store.close()
    store = backend.open()
    assert store.ids()  # the loop did write something
    store.close()
