"""The article store on PostgreSQL: one database shared by any number of replicas.

Same rows, checks and guarantees as the SQLite store (``index.sqlite_store``): each save or delete
is one transaction, and a trigger bumps the generation counter inside it. Connections come from a
pool (psycopg_pool) shared by the server's threads; they run in autocommit mode, so a revision
check is one round trip. Errors reaching the server (down, restarting, pool exhausted) become
``StoreUnavailableError``: the API answers 503 and the request can be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from index.store import SCHEMA_VERSION, ArticleStore, newer_schema
from qa.errors import IndexMismatchError, StoreUnavailableError

logger = logging.getLogger(__name__)

# Taken for the schema transaction, so replicas starting together create the tables once.
SCHEMA_LOCK = 0x61727471  # "artq"
# A request waits this long for a free connection before it is answered 503.
CONNECT_TIMEOUT_S = 5.0

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
    vectors_sha256    TEXT NOT NULL,
    tokens            BYTEA,
    tokens_sha256     TEXT
);
-- Version 2 added the token vectors' columns.
ALTER TABLE articles ADD COLUMN IF NOT EXISTS tokens BYTEA;
ALTER TABLE articles ADD COLUMN IF NOT EXISTS tokens_sha256 TEXT;
-- A page posted again by URL is found instead of stored twice (find_url).
CREATE INDEX IF NOT EXISTS articles_url ON articles (url);
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
    _IN_IDS = "id IN (SELECT json_array_elements_text(?::json))"

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

    def _read(self, query: str, parameters: Sequence[object] = ()) -> Sequence[Mapping[str, Any]]:
        """A read that fails on pooled connections the server has dropped (a PostgreSQL restart
        or failover) is tried once more after the pool has replaced them, so the first asks
        after a restart still answer."""
        query = _placeholders(query)
        try:
            with self._connection() as db:
                return db.execute(query, parameters).fetchall()
        except StoreUnavailableError as exc:
            if not isinstance(exc.__cause__, psycopg.OperationalError):
                raise  # no connection within the timeout: another try would wait as long
            self._pool.check()
        with self._connection() as db:
            return db.execute(query, parameters).fetchall()

    def _write(self, query: str, rows: Sequence[Sequence[object]]) -> list[int]:
        query = _placeholders(query)
        with self._connection() as db, db.transaction():
            return [db.execute(query, row).rowcount for row in rows]


def _placeholders(query: str) -> str:
    """The store's statements use ``?``; psycopg's placeholder is ``%s``."""
    return query.replace("?", "%s")
