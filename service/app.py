"""create_app(settings): the FastAPI application, a thin layer over index.library."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from threadpoolctl import threadpool_limits

from service import problems
from service.guard import Guard
from service.metrics import Metrics, RequestMetrics
from service.routes import articles, ask, health, search, widget
from service.settings import Settings
from service.state import EncoderFactory, Runtime, real_encoder

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, encoder_factory: EncoderFactory = real_encoder
) -> FastAPI:
    """Build the app; the model loads in the background after start-up (see /readyz)."""
    settings = settings or Settings()
    # numpy's OpenBLAS keeps one process-wide pool, one busy-waiting thread per core unless
    # pinned; beside the models' threads and the other workers' that cost a question 36 ms
    # instead of 20 on two busy cores. Pinned here, in the thread that builds the app
    # (threadpoolctl lets only one live thread set OpenBLAS's limit).
    threadpool_limits(limits=settings.threads, user_api="blas")
    metrics = Metrics(lambda: runtime.articles_stored())
    runtime = Runtime(settings, encoder_factory, metrics.model_seconds.observe)
    guard = Guard(settings, metrics.redis_errors.inc)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if guard.writes_need_key:
            logger.info("article writes need 'Authorization: Bearer <ARTICLE_QA_API_KEY>'")
        else:
            logger.warning(
                "ARTICLE_QA_API_KEY is not set: article writes are accepted only from loopback"
            )
        loading = asyncio.create_task(asyncio.to_thread(runtime.load))
        if settings.workers > 1:
            # Workers share one listening socket: one that accepted connections while loading
            # would answer 503 beside ready siblings. It starts accepting once it is ready.
            await asyncio.to_thread(runtime.ready.wait)
        yield
        runtime.stop()
        await loading
        runtime.close()

    app = FastAPI(
        title="article-qa",
        version="0.1.0",
        summary="Cited, extractive answers to questions about news articles.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.guard = guard
    app.state.metrics = metrics
    problems.install(app)
    app.add_middleware(problems.CatchAll)
    app.add_middleware(problems.BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    if settings.cors_origins:
        # Added last, so outermost: a 413 from BodyLimit still reaches the widget as a 413.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            max_age=600,
        )
    for module in (ask, search, articles, health, widget):
        app.include_router(module.router)
    return app
