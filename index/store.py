"""The article store's protocol: what every backend implements, and the checks they share.

One row per article holds the text, its blocks and metadata (the source of truth), the float32
sentence vectors with what they were built with, and the sentences' int8 token vectors (what late
interaction scores; ``index.encoder.TokenVectors``). Every backend makes each save and delete a
single atomic, durable transaction: a process killed at any moment leaves the article as it was
before or after, never in between, and a counter in the same transaction (a trigger) tells
archive-wide search that something changed. The schema carries a version; a database written by
a newer article-qa is refused rather than misread.

The backends are ``index.sqlite_store`` (the default: one file in the data directory) and
``index.postgres_store`` (any number of replicas on any number of hosts); ``index.stores`` opens
the one the settings ask for. This module imports neither, so they can both import it.

FAISS is the search structure, rebuilt from the stored vectors on load: exact search over an
article's few hundred sentences takes well under a millisecond to build, so there is no separate
index file that could go stale. Sentences are re-derived from the blocks (segmentation is
deterministic and versioned), so derived state is never stored twice. Vectors built with another
model, dimension or segmenter version, or that fail their checksum, are reported as stale and
rebuilt from the text by the library.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from index.encoder import Embedding, TokenVectors, Vectors
from qa.errors import ArticleNotFoundError, IndexMismatchError
from qa.models import Article, Block, Kind

# Bump when qa.segment changes how text is cut: stored vectors are then rebuilt.
SEGMENTER_VERSION = 2
# Bump when the tables change, with a migration from the previous version in each backend.
# 2: token vectors (rows of version 1 have none, so they are rebuilt once).
SCHEMA_VERSION = 2
# Every column of an article row, in table order (what ``migrate`` copies).
COLUMNS = (
    "id",
    "revision",
    "created",
    "title",
    "url",
    "byline",
    "publisher",
    "text",
    "text_sha256",
    "blocks",
    "model",
    "dim",
    "segmenter_version",
    "sentences",
    "vectors",
    "vectors_sha256",
    "tokens",
    "tokens_sha256",
)
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# Rows whose vectors fit an encoder: (model, dim, segmenter version) as parameters.
_FITS = (
    "model = ? AND dim = ? AND segmenter_version = ? AND length(vectors) = sentences * dim * 4 "
    "AND tokens IS NOT NULL"
)
_INSERT = f"INSERT INTO articles ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_UPSERT = f"{_INSERT} ON CONFLICT (id) DO UPDATE SET " + ", ".join(
    f"{name} = excluded.{name}" for name in COLUMNS if name != "id"
)
_INSERT_NEW = f"{_INSERT} ON CONFLICT (id) DO NOTHING"
_DELETE = "DELETE FROM articles WHERE id = ?"


def newer_schema(where: str, version: int) -> IndexMismatchError:
    return IndexMismatchError(
        f"{where} has schema version {version}, written by a newer article-qa; this one reads "
        f"up to version {SCHEMA_VERSION}: upgrade article-qa (or point it at another database)"
    )


class StaleIndexError(IndexMismatchError):
    """The article is readable but its vectors must be rebuilt (model, version or text changed)."""

    def __init__(
        self, reason: str, article: Article, created: str, text_changed: bool = False
    ) -> None:
        super().__init__(reason)
        self.article = article
        self.created = created
        # The stored blocks describe the old text, so the text must be parsed again.
        self.text_changed = text_changed


@dataclass(frozen=True, slots=True)
class Stored:
    """An article as loaded, with the revision it was loaded at."""

    article: Article
    index: faiss.Index
    tokens: TokenVectors
    created: str
    revision: str


def checksum(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def tokens_checksum(vectors_sha256: str, tokens: bytes) -> str:
    """The token vectors' checksum, bound to the sentence vectors': a replica of version 1
    still running during an upgrade rewrites the vectors but not the token vectors, which must
    then read as stale, not as the new text's."""
    return checksum(vectors_sha256.encode("ascii") + tokens)


def valid_id(article_id: str) -> bool:
    """Ids are short slugs: safe in URLs, logs and file names."""
    return bool(ID_PATTERN.fullmatch(article_id))


def build_faiss(vectors: Vectors) -> faiss.Index:
    """Exact inner-product index: articles hold hundreds of sentences, so exact search is cheap."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _article_from_row(row: Mapping[str, Any]) -> Article:
    text = row["text"]
    blocks = tuple(Block(int(s), int(e), Kind(k)) for s, e, k in json.loads(row["blocks"]))
    if any(not 0 <= b.start < b.end <= len(text) for b in blocks):
        raise ValueError("a block lies outside the text")
    return Article(
        text=text,
        title=row["title"],
        blocks=blocks,
        byline=row["byline"],
        publisher=row["publisher"],
        url=row["url"],
    )


class ArticleStore(ABC):
    """Reads and writes article rows; knows nothing about models beyond their names.

    The statements and the checks on what is read (model, dimension, segmenter version,
    checksums) live here, once, written with ``?`` placeholders; a backend runs them
    (``_read``, ``_write``) and supplies what differs: connections, errors, the schema and how a
    list of ids is matched (``_IN_IDS``, given the ids as one JSON array).
    """

    backend: str  # "sqlite" or "postgresql": for logs, /readyz and /metrics
    _IN_IDS: str

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the articles are, without credentials: for logs and /readyz."""

    @abstractmethod
    def _read(self, query: str, parameters: Sequence[object] = ()) -> Sequence[Mapping[str, Any]]:
        """The rows of one query."""

    @abstractmethod
    def _write(self, query: str, rows: Sequence[Sequence[object]]) -> list[int]:
        """Run one statement once per parameter row, all in one transaction; the rows each
        changed."""

    def ping(self) -> None:
        """Raise StoreUnavailableError (or IndexMismatchError) unless the store answers now."""
        self._read("SELECT 1")

    def ids(self) -> list[str]:
        return [row["id"] for row in self._read("SELECT id FROM articles ORDER BY id")]

    def count(self) -> int:
        return int(self._read("SELECT count(*) AS n FROM articles")[0]["n"])

    def revision(self, article_id: str) -> str | None:
        """The stored revision, or None when there is no such article: a cheap freshness check."""
        if not valid_id(article_id):  # never a stored id (and PostgreSQL text cannot hold NUL)
            return None
        rows = self._read("SELECT revision FROM articles WHERE id = ?", (article_id,))
        return str(rows[0]["revision"]) if rows else None

    def generation(self) -> int:
        """A number that changes whenever any article is written or deleted, by any process."""
        return int(self._read("SELECT value FROM meta WHERE key = 'generation'")[0]["value"])

    def revisions(self, model: str, dim: int) -> dict[str, tuple[str, int]]:
        """Id -> (revision, sentences) of every article whose vectors fit this encoder: what the
        archive index compares itself with, without reading any vectors."""
        rows = self._read(
            f"SELECT id, revision, sentences FROM articles WHERE {_FITS}",
            (model, dim, SEGMENTER_VERSION),
        )
        return {row["id"]: (row["revision"], row["sentences"]) for row in rows}

    def all_vectors(
        self, model: str, dim: int, ids: Collection[str] | None = None
    ) -> Iterator[tuple[str, str, Vectors]]:
        """(id, revision, vectors) of every article, or of these ``ids``, whose vectors fit this
        encoder (stale ones are skipped until rebuilt)."""
        query = f"SELECT id, revision, sentences, vectors FROM articles WHERE {_FITS}"
        parameters: tuple[object, ...] = (model, dim, SEGMENTER_VERSION)
        if ids is not None:
            query += f" AND {self._IN_IDS}"
            parameters += (json.dumps(sorted(ids)),)
        for row in self._read(query + " ORDER BY id", parameters):
            vectors = np.frombuffer(row["vectors"], dtype=np.float32)
            yield row["id"], row["revision"], vectors.reshape(row["sentences"], dim)

    def stale_ids(self, model: str, dim: int) -> list[str]:
        """Articles whose vectors were built otherwise or have the wrong size, found without
        reading any vectors (both databases know a stored blob's length from its header)."""
        rows = self._read(
            f"SELECT id FROM articles WHERE NOT ({_FITS}) ORDER BY id",
            (model, dim, SEGMENTER_VERSION),
        )
        return [row["id"] for row in rows]

    def delete(self, article_id: str) -> None:
        if not (valid_id(article_id) and self._write(_DELETE, [(article_id,)])[0]):
            raise ArticleNotFoundError(f"no article with id {article_id[:80]!r}")

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every article row as stored (all of ``COLUMNS``), for copying to another store."""
        for article_id in self.ids():  # one at a time: an archive need not fit in memory
            if (row := self._row(article_id)) is not None:
                yield dict(row)

    def insert_rows(self, rows: Collection[Mapping[str, Any]]) -> list[str]:
        """Insert rows copied from another store in one transaction, keeping any article this
        store already has under the same id; returns the ids inserted."""
        changed = self._write(_INSERT_NEW, [[row[name] for name in COLUMNS] for row in rows])
        return [str(row["id"]) for row, n in zip(rows, changed, strict=True) if n]

    def _row(self, article_id: str) -> Mapping[str, Any] | None:
        rows = self._read("SELECT * FROM articles WHERE id = ?", (article_id,))
        return rows[0] if rows else None

    def find_url(self, urls: Sequence[str]) -> str | None:
        """The id of the first-stored article published at one of ``urls`` (the forms one
        address may be written in), so a page posted again is found instead of stored twice."""
        if not urls:
            return None
        marks = ", ".join("?" * len(urls))
        rows = self._read(
            f"SELECT id FROM articles WHERE url IN ({marks}) ORDER BY created, id LIMIT 1",
            tuple(urls),
        )
        return str(rows[0]["id"]) if rows else None

    def exists(self, article_id: str) -> bool:
        return self.revision(article_id) is not None

    def save(
        self, article_id: str, article: Article, embedding: Embedding, model: str, created: str
    ) -> str:
        """Insert or replace an article in one transaction; returns its new revision."""
        if not valid_id(article_id):
            raise ArticleNotFoundError(f"no article with id {article_id[:80]!r}")
        vectors = embedding.vectors
        data = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        tokens = embedding.tokens.to_bytes()
        row: dict[str, Any] = {
            "id": article_id,
            "revision": uuid.uuid4().hex,
            "created": created,
            "title": article.title,
            "url": article.url,
            "byline": article.byline,
            "publisher": article.publisher,
            "text": article.text,
            "text_sha256": checksum(article.text),
            "blocks": json.dumps([[b.start, b.end, b.kind.value] for b in article.blocks]),
            "model": model,
            "dim": int(vectors.shape[1]),
            "segmenter_version": SEGMENTER_VERSION,
            "sentences": len(vectors),
            "vectors": data,
            "vectors_sha256": checksum(data),
            "tokens": tokens,
            "tokens_sha256": tokens_checksum(checksum(data), tokens),
        }
        self._write(_UPSERT, [[row[name] for name in COLUMNS]])
        return str(row["revision"])

    def load(self, article_id: str, model: str, dim: int) -> Stored:
        """Load an article and build its index, checking what the vectors were built with.

        Raises:
            ArticleNotFoundError: nothing is stored under this id.
            StaleIndexError: the text is fine but the vectors must be rebuilt.
            IndexMismatchError: the article itself is unreadable.
        """
        row = self._row(article_id) if valid_id(article_id) else None
        if row is None:
            raise ArticleNotFoundError(f"no article with id {article_id[:80]!r}")
        try:
            article = _article_from_row(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexMismatchError(
                f"article {article_id!r} is unreadable ({exc}); delete it and ingest it again"
            ) from exc
        created = str(row["created"])

        def stale(reason: str, text_changed: bool = False) -> StaleIndexError:
            return StaleIndexError(
                f"index of {article_id!r} is stale: {reason}", article, created, text_changed
            )

        if row["text_sha256"] != checksum(article.text):
            raise stale("the text changed since it was embedded", text_changed=True)
        expected = {"model": model, "dim": dim, "segmenter_version": SEGMENTER_VERSION}
        for name, value in expected.items():
            if row[name] != value:
                raise stale(f"{name} is {row[name]!r}, expected {value!r}")
        data = bytes(row["vectors"])
        if len(data) != row["sentences"] * dim * 4 or row["vectors_sha256"] != checksum(data):
            raise stale(f"its vectors are damaged ({len(data):,} bytes for {row['sentences']})")
        vectors = np.frombuffer(data, dtype=np.float32).reshape(row["sentences"], dim)
        if row["tokens"] is None:
            raise stale("it has no token vectors (stored by an older version)")
        blob = bytes(row["tokens"])
        try:
            if row["tokens_sha256"] != tokens_checksum(row["vectors_sha256"], blob):
                raise ValueError("their checksum does not match them and the vectors")
            tokens = TokenVectors.from_bytes(blob, row["sentences"], dim)
        except ValueError as exc:
            raise stale(f"its token vectors are damaged ({exc})") from exc
        return Stored(article, build_faiss(vectors), tokens, created, str(row["revision"]))


def copy_articles(
    source: ArticleStore, target: ArticleStore, batch: int = 64
) -> tuple[list[str], list[str]]:
    """Copy every article row, vectors included (nothing is embedded again), in transactions of
    ``batch`` rows; articles the target already has are kept as they are. Running it again after
    an interruption copies the rest. Returns (ids copied, ids kept)."""
    copied: list[str] = []
    kept: list[str] = []
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        inserted = set(target.insert_rows(rows))
        copied.extend(row["id"] for row in rows if row["id"] in inserted)
        kept.extend(row["id"] for row in rows if row["id"] not in inserted)
        rows.clear()

    for row in source.rows():
        rows.append(row)
        if len(rows) == batch:
            flush()
    flush()
    return copied, kept
