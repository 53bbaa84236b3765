"""Start-up state: the library is loaded in the background so /healthz answers at once (with
several workers on one port, each waits for it before it takes connections: see service.app)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from index import stores
from index.encoder import Encoder
from index.library import Library
from index.loading import load_encoder
from index.ranker import RankerWeights
from index.reader import Reader, reader_threads
from index.store import ArticleStore
from qa.errors import ArticleQAError, StoreUnavailableError
from service.metrics import Metrics
from service.problems import NotReadyError
from service.settings import Settings

logger = logging.getLogger(__name__)

EncoderFactory = Callable[[Settings], Encoder]
# While the store cannot be reached at start-up, it is tried again this often.
STORE_RETRY_S = 2.0


def real_encoder(settings: Settings) -> Encoder:
    return load_encoder(
        settings.model,
        settings.backend,
        settings.threads,
        settings.model_cache,
        settings.ingest_threads,
    )


def open_store(settings: Settings) -> ArticleStore:
    """PostgreSQL when ARTICLE_QA_DATABASE_URL is set, else the SQLite file in the data dir."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    return stores.open_store(settings.data_dir, url, settings.database_pool)


def build_library(
    settings: Settings, encoder: Encoder, model_timer: Callable[[float], None] | None = None
) -> Library:
    """The library as the settings describe it (shared by the server and the CLI)."""
    weights = RankerWeights.load(settings.ranker_weights) if settings.ranker_weights else None
    reader = None
    if settings.reader:
        threads = settings.reader_threads or reader_threads()
        reader = Reader(settings.reader_weights, threads=threads)
    return Library(
        settings.data_dir,
        encoder,
        weights,
        threshold=settings.threshold,
        max_chars=settings.max_article_chars,
        reader=reader,
        store=open_store(settings),
        model_timer=model_timer,
    )


class Runtime:
    """Holds the library once it is ready, or the reason it failed to load."""

    def __init__(
        self,
        settings: Settings,
        encoder_factory: EncoderFactory,
        model_timer: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self._encoder_factory = encoder_factory
        self._model_timer = model_timer
        self.library: Library | None = None
        self.error: str | None = None
        self.waiting: str | None = None  # why start-up is taking long (the store is down)
        self.ready = threading.Event()
        self._stopping = threading.Event()

    def load(self) -> None:
        """Load the model, open the store and index the bundled article if needed; then, with
        requests already served, rebuild any other article whose vectors are stale."""
        started = time.perf_counter()
        try:
            library = self._open(self._encoder_factory(self.settings))
            if library is None:
                return  # stopped while waiting for the store
            library.ensure_default()
            self.library = library
            logger.info(
                "ready in %.1f s (%d articles)", time.perf_counter() - started, len(library.ids())
            )
        except Exception as exc:
            logger.exception("start-up failed")
            self.error = f"start-up failed: {exc}"
            return
        finally:
            self.ready.set()
        if rebuilt := library.rebuild_stale():
            logger.info("rebuilt the stale vectors of %d articles", rebuilt)

    def _open(self, encoder: Encoder) -> Library | None:
        """The library, once its store answers: a replica that starts before PostgreSQL does
        (or while it restarts) waits for it, retrying, instead of failing for good."""
        while True:
            try:
                library = build_library(self.settings, encoder, self._model_timer)
            except StoreUnavailableError as exc:
                self.waiting = f"waiting for the article store: {exc}"
                logger.warning("%s; retrying in %.0f s", self.waiting, STORE_RETRY_S)
                if self._stopping.wait(STORE_RETRY_S):
                    return None
                continue
            self.waiting = None
            return library

    def stop(self) -> None:
        """Ends a wait for the store (the app is shutting down)."""
        self._stopping.set()

    def articles_stored(self) -> int | None:
        """How many articles the store holds; None while loading or when it cannot say."""
        if self.library is None:
            return None
        try:
            return self.library.store.count()
        except ArticleQAError as exc:
            logger.error("cannot count the stored articles: %s", exc)
            return None

    def close(self) -> None:
        """Back to the not-ready state, so an app started again never serves a closed store."""
        library, self.library = self.library, None
        self.ready.clear()
        if library is not None:
            library.close()


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_library(request: Request) -> Library:
    runtime = await get_runtime(request)
    if runtime.library is None:
        raise NotReadyError(
            runtime.error
            or runtime.waiting
            or "the model and indexes are still loading; retry shortly"
        )
    return runtime.library


LibraryDep = Annotated[Library, Depends(get_library)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]
