"""Open the article store the settings ask for.

Apart from the store modules so that none of them imports another: ``index.store`` holds the
protocol every store implements, ``index.sqlite_store`` and ``index.postgres_store`` implement it,
and only this factory knows them all.
"""

from __future__ import annotations

from pathlib import Path

from index.sqlite_store import SqliteStore
from index.store import ArticleStore


def open_store(data_dir: Path, database_url: str | None = None, pool_size: int = 8) -> ArticleStore:
    """PostgreSQL when a URL is given (psycopg is imported only then), else SQLite in data_dir."""
    if database_url:
        from index.postgres_store import PostgresStore

        return PostgresStore(database_url, pool_size)
    return SqliteStore(data_dir)
