"""The article store: atomic save, checked load, stale detection, ids, delete, leftovers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from index.encoder import HashingEncoder
from index.store import (
    FORMAT_VERSION,
    ArticleStore,
    Manifest,
    StaleIndexError,
    checksum,
    valid_id,
)
from qa.article import parse_text, search_text
from qa.errors import ArticleNotFoundError, IndexMismatchError
from qa.models import Article
from qa.segment import segment

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
def store(tmp_path: Path) -> ArticleStore:
    return ArticleStore(tmp_path / "data")


def save(store: ArticleStore, article: Article, article_id: str = ID, model: str = MODEL) -> int:
    """Embed and save an article as the library does; returns the sentence count."""
    sentences = segment(article).sentences
    encoder = HashingEncoder(dim=DIM, name=model)
    vectors = encoder.encode_documents([search_text(s.text, s.kind) for s in sentences])
    manifest = Manifest.for_article(article, model, DIM, len(sentences))
    store.save(article_id, article, vectors, manifest, CREATED)
    return len(sentences)


def snapshot(root: Path) -> set[tuple[str, int]]:
    """Every path under ``root`` with its size (0 for directories)."""
    return {
        (str(p.relative_to(root)), p.stat().st_size if p.is_file() else 0) for p in root.rglob("*")
    }


# --- round trip ------------------------------------------------------------------------------


def test_save_load_round_trip(store: ArticleStore, article: Article) -> None:
    count = save(store, article)
    loaded, index, created = store.load(ID, MODEL, DIM)
    assert loaded == article
    assert loaded.byline == "Jane Doe"
    assert loaded.url == "https://example.com/b"
    assert count == 4
    assert index.ntotal == count
    assert index.d == DIM
    assert created == CREATED


def test_layout_on_disk(store: ArticleStore, article: Article) -> None:
    save(store, article)
    folder = store.root / ID
    assert sorted(p.name for p in folder.iterdir()) == [
        "article.json",
        "manifest.json",
        "vectors.faiss",
    ]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == MODEL
    assert manifest["dim"] == DIM
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["text_sha256"] == checksum(article.text)
    assert manifest["sentences"] == 4
    data = json.loads((folder / "article.json").read_text(encoding="utf-8"))
    assert data["id"] == ID
    assert data["text"] == TEXT
    assert [name for name in (p.name for p in store.root.iterdir())] == [ID]


def test_non_ascii_text_round_trips(store: ArticleStore) -> None:
    article = parse_text("Lula da Silva — Luiz Inácio — said “no” to 北京. Ça va.")
    save(store, article)
    assert store.load(ID, MODEL, DIM)[0] == article
    assert "Inácio" in (store.root / ID / "article.json").read_text(encoding="utf-8")


def test_save_replaces_an_existing_article(store: ArticleStore, article: Article) -> None:
    save(store, article)
    other = parse_text("A different story entirely. It has two sentences.")
    save(store, other)
    loaded, index, _ = store.load(ID, MODEL, DIM)
    assert loaded == other
    assert index.ntotal == 2
    assert [p.name for p in store.root.iterdir()] == [ID]  # no .tmp- or .trash- left


def test_ids_and_exists(store: ArticleStore, article: Article) -> None:
    assert store.ids() == []
    save(store, article, "b-second")
    save(store, article, "a-first")
    (store.root / ".tmp-a-first-123").mkdir()
    assert store.ids() == ["a-first", "b-second"]
    assert store.exists("a-first")
    assert not store.exists("c-third")
    assert not store.exists(".tmp-a-first-123")


# --- stale indexes ---------------------------------------------------------------------------


def _edit_json(path: Path, change: Callable[[dict[str, object]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_other_model_is_stale(store: ArticleStore, article: Article) -> None:
    save(store, article)
    with pytest.raises(StaleIndexError, match="model") as info:
        store.load(ID, "other/model", DIM)
    assert info.value.article == article
    assert info.value.created == CREATED


def test_other_dimension_is_stale(store: ArticleStore, article: Article) -> None:
    save(store, article)
    with pytest.raises(StaleIndexError, match="dim") as info:
        store.load(ID, MODEL, 32)
    assert info.value.article == article


def test_edited_text_is_stale(store: ArticleStore, article: Article) -> None:
    save(store, article)
    path = store.root / ID / "article.json"

    def edit(data: dict[str, object]) -> None:
        data["text"] = str(data["text"]).replace("Monday", "Friday")  # same length

    _edit_json(path, edit)
    with pytest.raises(StaleIndexError, match="text_sha256") as info:
        store.load(ID, MODEL, DIM)
    assert "on Friday" in info.value.article.text
    assert info.value.article.blocks == article.blocks
    assert info.value.created == CREATED


def test_other_format_or_segmenter_version_is_stale(store: ArticleStore, article: Article) -> None:
    save(store, article)
    path = store.root / ID / "manifest.json"

    def bump(data: dict[str, object]) -> None:
        data["segmenter_version"] = 999

    _edit_json(path, bump)
    with pytest.raises(StaleIndexError, match="segmenter_version"):
        store.load(ID, MODEL, DIM)


def test_sentence_count_disagreeing_with_vectors_is_stale(
    store: ArticleStore, article: Article
) -> None:
    save(store, article)

    def miscount(data: dict[str, object]) -> None:
        data["sentences"] = 7

    _edit_json(store.root / ID / "manifest.json", miscount)
    with pytest.raises(StaleIndexError, match="vectors file holds 4x64"):
        store.load(ID, MODEL, DIM)


@pytest.mark.parametrize(
    "damage",
    ["truncate", "garbage", "empty", "missing"],
)
def test_damaged_vectors_are_stale(store: ArticleStore, article: Article, damage: str) -> None:
    save(store, article)
    path = store.root / ID / "vectors.faiss"
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a faiss index" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(StaleIndexError, match="vectors file") as info:
        store.load(ID, MODEL, DIM)
    assert info.value.article == article


@pytest.mark.parametrize("damage", ["missing", "garbage", "wrong-shape", "missing-key"])
def test_damaged_manifest_is_stale(store: ArticleStore, article: Article, damage: str) -> None:
    save(store, article)
    path = store.root / ID / "manifest.json"
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\xff{{{")
    elif damage == "wrong-shape":
        path.write_text("[1, 2, 3]", encoding="utf-8")
    else:

        def drop_model(data: dict[str, object]) -> None:
            del data["model"]

        _edit_json(path, drop_model)
    with pytest.raises(StaleIndexError, match="manifest") as info:
        store.load(ID, MODEL, DIM)
    assert info.value.article == article
    assert info.value.created == CREATED


# --- unreadable articles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00 binary",
        b"[1, 2]",
        b'"just a string"',
        b'{"title": "t", "blocks": []}',
        b'{"text": 5, "title": "t", "blocks": []}',
        b'{"text": "Short.", "title": "t", "blocks": [[0, 6, "nonsense"]]}',
        b'{"text": "Short.", "title": "t", "blocks": [[0, 60, "body"]]}',
        b'{"text": "Short.", "title": "t", "blocks": [[4, 2, "body"]]}',
        b'{"text": "Short.", "title": "t", "blocks": [[0, 6]]}',
    ],
)
def test_unreadable_article_json(store: ArticleStore, article: Article, content: bytes) -> None:
    save(store, article)
    (store.root / ID / "article.json").write_bytes(content)
    with pytest.raises(IndexMismatchError, match="unreadable") as info:
        store.load(ID, MODEL, DIM)
    assert not isinstance(info.value, StaleIndexError)


def test_article_json_that_is_a_directory(store: ArticleStore, article: Article) -> None:
    save(store, article)
    path = store.root / ID / "article.json"
    path.unlink()
    path.mkdir()
    with pytest.raises(IndexMismatchError, match="unreadable"):
        store.load(ID, MODEL, DIM)


def test_missing_article_json_is_not_found(store: ArticleStore, article: Article) -> None:
    save(store, article)
    (store.root / ID / "article.json").unlink()
    assert not store.exists(ID)
    with pytest.raises(ArticleNotFoundError):
        store.load(ID, MODEL, DIM)


def test_unknown_id_is_not_found(store: ArticleStore) -> None:
    with pytest.raises(ArticleNotFoundError):
        store.load("never-saved", MODEL, DIM)


# --- ids -------------------------------------------------------------------------------------

BAD_IDS = [
    "../../etc/passwd",
    "../victim",
    "..",
    ".",
    "",
    "a" * 65,
    "x" * 10_000,
    "a/b",
    "a\\b",
    "/abs",
    ".tmp-x",
    "-leading-dash",
    "with space",
    "ümlaut",
    "new\nline",
    "id\x00nul",
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_never_reach_the_filesystem(
    tmp_path: Path, store: ArticleStore, article: Article, bad: str
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "article.json").write_text("{}", encoding="utf-8")
    save(store, article)
    before = snapshot(tmp_path)

    assert not valid_id(bad)
    assert not store.exists(bad)
    with pytest.raises(ArticleNotFoundError) as info:
        store.load(bad, MODEL, DIM)
    assert len(str(info.value)) < 200
    with pytest.raises(ArticleNotFoundError):
        store.delete(bad)
    with pytest.raises(ArticleNotFoundError):
        save(store, article, article_id=bad)

    assert snapshot(tmp_path) == before
    assert (victim / "article.json").is_file()


@pytest.mark.parametrize("good", ["a", "default", "A1_b-2", "9" * 64, "mexico-grants-1a2b3c4d"])
def test_valid_ids(good: str) -> None:
    assert valid_id(good)


# --- delete and leftovers --------------------------------------------------------------------


def test_delete(store: ArticleStore, article: Article) -> None:
    save(store, article)
    save(store, article, "keep-me")
    store.delete(ID)
    assert not store.exists(ID)
    assert store.ids() == ["keep-me"]
    assert [p.name for p in store.root.iterdir()] == ["keep-me"]  # no .trash- left
    with pytest.raises(ArticleNotFoundError):
        store.load(ID, MODEL, DIM)
    with pytest.raises(ArticleNotFoundError):
        store.delete(ID)
    assert store.load("keep-me", MODEL, DIM)[0] == article


def test_clean_leftovers(store: ArticleStore, article: Article) -> None:
    save(store, article)
    for name in (f".tmp-{ID}-0123abcd", f".trash-{ID}-4567ef01"):
        (store.root / name).mkdir()
        (store.root / name / "article.json").write_text("{}", encoding="utf-8")
    store.clean_leftovers()
    assert [p.name for p in store.root.iterdir()] == [ID]
    assert store.load(ID, MODEL, DIM)[0] == article
