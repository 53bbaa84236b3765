"""The article store on PostgreSQL: one database shared by any number of replicas.

Same rows, checks and guarantees as the SQLite store (``index.store``): each save or delete is one
transaction, and a trigger bumps the generation counter inside it. Connections come from a pool
(psycopg_pool) shared by the server's threads; they run in autocommit mode, so a revision check is
one round trip. Errors reaching the server (down, restarting, pool exhausted) become
``StoreUnavailableError``: the API answers 503 and the request can be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from index.encoder import Vectors
from index.store import (
    COLUMNS,
    SCHEMA_VERSION,
    SEGMENTER_VERSION,
    ArticleStore,
    newer_schema,
    valid_id,
)
from qa.errors import ArticleNotFoundError, IndexMismatchError, StoreUnavailableError

logger = logging.getLogger(__name__)

# Taken for the schema transaction, so replicas starting together create the tables once.
SCHEMA_LOCK = 0x61727471  # "artq"
# A request waits this long for a free connection before it is answered 503.
CONNECT_TIMEOUT_S = 5.0

_FITS = (
    "model = %s AND dim = %s AND segmenter_version = %s "
    "AND octet_length(vectors) = sentences * dim * 4"
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id                TEXT PRIMARY KEY,
    revision          TEXT NOT NULL,
    created           TEXT NOT NULL,
    title             TEXT NOT NULL,
    url               TEXT,
    byline            TEXT,
    publisher         TEXT,
    text              TEXT NOT NULL,
    text_sha256       TEXT NOT NULL,
    blocks            TEXT NOT NULL,
    model             TEXT NOT NULL,
    dim               INTEGER NOT NULL,
    segmenter_version INTEGER NOT NULL,
    sentences         INTEGER NOT NULL,
    vectors           BYTEA NOT NULL,
    vectors_sha256    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO meta VALUES ('generation', 0) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION article_qa_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER generation AFTER INSERT OR UPDATE OR DELETE ON articles
    FOR EACH ROW EXECUTE FUNCTION article_qa_bump_generation();
"""


def redacted(url: str) -> str:
    """host:port/dbname of a connection string, never its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql (unparsable URL)"
    host, port, name = parts.get("host", "localhost"), parts.get("port", 5432), parts.get("dbname")
    return f"postgresql://{host}:{port}/{name or ''}"


class PostgresStore(ArticleStore):
    """Article rows in PostgreSQL; the schema is created or migrated when the store opens."""

    backend = "postgresql"

    def __init__(self, url: str, pool_size: int = 8) -> None:
        self._where = redacted(url)
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url,
            connection_class=psycopg.Connection[dict[str, Any]],
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True, "row_factory": dict_row},
            timeout=CONNECT_TIMEOUT_S,
            name="article-qa",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            self._migrate()
        except BaseException as exc:
            self._pool.close()
            if isinstance(exc, PoolTimeout):
                raise StoreUnavailableError(
                    f"cannot connect to {self._where} within {CONNECT_TIMEOUT_S:.0f} s; is "
                    "PostgreSQL running and ARTICLE_QA_DATABASE_URL right?"
                ) from exc
            raise

    def _migrate(self) -> None:
        with self._connection() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            exists = db.execute("SELECT to_regclass('meta') IS NOT NULL AS e").fetchone()
            if exists and exists["e"]:
                row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is not None and int(row["value"]) > SCHEMA_VERSION:
                    raise newer_schema(self._where, int(row["value"]))
            db.execute(SCHEMA)
            db.execute(
                "INSERT INTO meta VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (SCHEMA_VERSION,),
            )

    def close(self) -> None:
        self._pool.close()

    def describe(self) -> str:
        return self._where

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        try:
            with self._pool.connection() as db:
                yield db
        except PoolTimeout as exc:
            raise StoreUnavailableError(
                f"no connection to {self._where} within {CONNECT_TIMEOUT_S:.0f} s"
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"{self._where}: {str(exc).strip()}") from exc
        except psycopg.DatabaseError as exc:
            raise IndexMismatchError(f"cannot use {self._where}: {str(exc).strip()}") from exc

    def _read(self, query: str, parameters: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        """Rows of one read. A read that fails on pooled connections the server has dropped (a
        PostgreSQL restart or failover) is tried once more after the pool has replaced them, so
        the first asks after a restart still answer."""
        try:
            with self._connection() as db:
                return db.execute(query, parameters).fetchall()
        except StoreUnavailableError as exc:
            if not isinstance(exc.__cause__, psycopg.OperationalError):
                raise  # no connection within the timeout: another try would wait as long
            self._pool.check()
        with self._connection() as db:
            return db.execute(query, parameters).fetchall()

    def _one(self, query: str, parameters: tuple[object, ...] = ()) -> dict[str, Any] | None:
        rows = self._read(query, parameters)
        return rows[0] if rows else None

    def ping(self) -> None:
        self._one("SELECT 1")

    def ids(self) -> list[str]:
        return [row["id"] for row in self._read("SELECT id FROM articles ORDER BY id")]

    def count(self) -> int:
        row = self._one("SELECT count(*) AS n FROM articles")
        return int(row["n"]) if row else 0

    def revision(self, article_id: str) -> str | None:
        if not valid_id(article_id):  # PostgreSQL text cannot even hold some (NUL)
            return None
        row = self._one("SELECT revision FROM articles WHERE id = %s", (article_id,))
        return None if row is None else str(row["revision"])

    def generation(self) -> int:
        row = self._one("SELECT value FROM meta WHERE key = 'generation'")
        return int(row["value"]) if row else 0

    def revisions(self, model: str, dim: int) -> dict[str, tuple[str, int]]:
        rows = self._read(
            f"SELECT id, revision, sentences FROM articles WHERE {_FITS}",
            (model, dim, SEGMENTER_VERSION),
        )
        return {row["id"]: (row["revision"], row["sentences"]) for row in rows}

    def all_vectors(
        self, model: str, dim: int, ids: Collection[str] | None = None
    ) -> Iterator[tuple[str, str, Vectors]]:
        query = f"SELECT id, revision, sentences, vectors FROM articles WHERE {_FITS}"
        parameters: tuple[object, ...] = (model, dim, SEGMENTER_VERSION)
        if ids is not None:
            query += " AND id = ANY(%s)"
            parameters += (sorted(ids),)
        for row in self._read(query + " ORDER BY id", parameters):
            vectors = np.frombuffer(row["vectors"], dtype=np.float32)
            yield row["id"], row["revision"], vectors.reshape(row["sentences"], dim)

    def stale_ids(self, model: str, dim: int) -> list[str]:
        # octet_length of a stored bytea reads its header, not the vectors.
        rows = self._read(
            f"SELECT id FROM articles WHERE NOT ({_FITS}) ORDER BY id",
            (model, dim, SEGMENTER_VERSION),
        )
        return [row["id"] for row in rows]

    def delete(self, article_id: str) -> None:
        with self._connection() as db:
            deleted = (
                valid_id(article_id)
                and db.execute("DELETE FROM articles WHERE id = %s", (article_id,)).rowcount
            )
        if not deleted:
            raise ArticleNotFoundError(f"no article with id {article_id[:80]!r}")

    def rows(self) -> Iterator[dict[str, Any]]:
        for article_id in self.ids():
            if (row := self._row(article_id)) is not None:
                yield dict(row)

    def insert_rows(self, rows: Collection[Mapping[str, Any]]) -> list[str]:
        columns = ", ".join(COLUMNS)
        values = ", ".join(["%s"] * len(COLUMNS))
        inserted = []
        with self._connection() as db, db.transaction():
            for row in rows:
                cursor = db.execute(
                    f"INSERT INTO articles ({columns}) VALUES ({values}) "
                    "ON CONFLICT (id) DO NOTHING",
                    tuple(row[name] for name in COLUMNS),
                )
                if cursor.rowcount:
                    inserted.append(str(row["id"]))
        return inserted

    def _row(self, article_id: str) -> Mapping[str, Any] | None:
        return self._one("SELECT * FROM articles WHERE id = %s", (article_id,))

    def _upsert(self, row: Mapping[str, Any]) -> None:
        columns = ", ".join(row)
        values = ", ".join(["%s"] * len(row))
        updates = ", ".join(f"{name} = excluded.{name}" for name in row if name != "id")
        with self._connection() as db:
            db.execute(
                f"INSERT INTO articles ({columns}) VALUES ({values}) "
                f"ON CONFLICT (id) DO UPDATE SET {updates}",
                tuple(row.values()),
            )
