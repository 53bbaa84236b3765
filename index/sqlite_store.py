"""The article store on SQLite: the embedded default, needing no server.

One file, ``<data_dir>/articles.db``, in WAL mode, so readers in other processes (the CLI, more
server workers) read while one writes. The statements and the checks on what is read are the
shared ones of ``index.store.ArticleStore``; this module supplies the connection, the schema and
its migrations, and the import of the one-directory-per-article layout of version 0.1.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from index.store import SCHEMA_VERSION, ArticleStore, checksum, newer_schema, valid_id
from qa.errors import IndexMismatchError

logger = logging.getLogger(__name__)

DB_NAME = "articles.db"
# The tables (PostgreSQL's are in index.postgres_store).
SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id                TEXT PRIMARY KEY,
    revision          TEXT NOT NULL,     -- new on every write; caches compare it
    created           TEXT NOT NULL,
    title             TEXT NOT NULL,
    url               TEXT,
    byline            TEXT,
    publisher         TEXT,
    text              TEXT NOT NULL,
    text_sha256       TEXT NOT NULL,
    blocks            TEXT NOT NULL,     -- JSON [[start, end, kind], ...]
    model             TEXT NOT NULL,     -- what the vectors were built with
    dim               INTEGER NOT NULL,
    segmenter_version INTEGER NOT NULL,
    sentences         INTEGER NOT NULL,
    vectors           BLOB NOT NULL,     -- float32, sentences x dim, row-major
    vectors_sha256    TEXT NOT NULL,
    tokens            BLOB,              -- TokenVectors.to_bytes(); NULL: to be rebuilt
    tokens_sha256     TEXT
) STRICT;
-- generation: bumped in the same transaction as every write (archive-wide search follows it);
-- schema_version: what the tables look like.
-- A page posted again by URL is found instead of stored twice (find_url).
CREATE INDEX IF NOT EXISTS articles_url ON articles (url);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
INSERT OR IGNORE INTO meta VALUES ('generation', 0);
CREATE TRIGGER IF NOT EXISTS generation_insert AFTER INSERT ON articles
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
CREATE TRIGGER IF NOT EXISTS generation_update AFTER UPDATE ON articles
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
CREATE TRIGGER IF NOT EXISTS generation_delete AFTER DELETE ON articles
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
"""


class SqliteStore(ArticleStore):
    """The embedded default: one SQLite file in the data directory.

    One connection per store, shared by the server's threads under a lock: statements take
    microseconds (a revision check) to milliseconds (loading an article), and SQLite's own
    locking still coordinates with other processes.
    """

    backend = "sqlite"
    _IN_IDS = "id IN (SELECT value FROM json_each(?))"

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a write acknowledged to the client survives a power cut, not only a crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise IndexMismatchError(
                f"{self.path} is not a readable article database ({exc})"
            ) from exc
        except IndexMismatchError:
            self._db.close()
            raise

    def _migrate(self) -> None:
        """Create the tables, or bring an older database to this schema, in one transaction.

        Databases from before the version was recorded have version 1's tables; version 2 added
        the token vectors' columns.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = None
            if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                row = self._db.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()
                version = None if row is None else int(row["value"])
            if version is not None and version > SCHEMA_VERSION:
                raise newer_schema(str(self.path), version)
            columns = {row["name"] for row in self._db.execute("PRAGMA table_info(articles)")}
            if columns and "tokens" not in columns:
                self._db.execute("ALTER TABLE articles ADD COLUMN tokens BLOB")
                self._db.execute("ALTER TABLE articles ADD COLUMN tokens_sha256 TEXT")
            for statement in SCHEMA.split(";\n"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def describe(self) -> str:
        return str(self.path)

    @contextmanager
    def _query(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.DatabaseError as exc:
                raise IndexMismatchError(f"cannot use {self.path}: {exc}") from exc

    def _read(self, query: str, parameters: Sequence[object] = ()) -> Sequence[Mapping[str, Any]]:
        with self._query() as db:
            cursor = db.execute(query, parameters)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _write(self, query: str, rows: Sequence[Sequence[object]]) -> list[int]:
        with self._query() as db:
            if len(rows) == 1:  # a single statement is its own transaction
                return [db.execute(query, rows[0]).rowcount]
            db.execute("BEGIN IMMEDIATE")
            try:
                changed = [db.execute(query, row).rowcount for row in rows]
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return changed

    def import_directories(self, legacy: Path) -> int:
        """Carry articles over from the one-directory-per-article layout of version 0.1.

        Only text and metadata are imported (their vectors are rebuilt on first use); the old
        directory is renamed afterwards so deleted articles never come back.
        """
        rows = []
        for path in sorted(legacy.glob("*/article.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                text, title, article_id = data["text"], data["title"], data["id"]
                if not (isinstance(text, str) and isinstance(title, str) and valid_id(article_id)):
                    raise TypeError("id, text or title is missing or not text")
                meta = {k: data.get(k) for k in ("url", "byline", "publisher")}
                rows.append(
                    {
                        **{k: v if isinstance(v, str) else None for k, v in meta.items()},
                        "id": article_id,
                        "revision": uuid.uuid4().hex,
                        "created": str(data.get("created", "")),
                        "title": title,
                        "text": text,
                        "text_sha256": checksum(text),
                        "blocks": json.dumps(data["blocks"]),
                    }
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.error("not importing %s: %s", path, exc)
        with self._query() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR IGNORE INTO articles VALUES (:id, :revision, :created, :title, "
                    ":url, :byline, :publisher, :text, :text_sha256, :blocks, '', 0, 0, 0, "
                    "x'', '', NULL, NULL)",
                    rows,
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        with contextlib.suppress(FileNotFoundError):  # another worker imported it just now
            legacy.rename(legacy.with_name(f"{legacy.name}.imported-{uuid.uuid4().hex[:8]}"))
        return len(rows)
