"""Prometheus metrics: what GET /metrics exposes, and the middleware that counts requests.

Each app has its own registry (tests build many apps in one process). With several workers
(``ARTICLE_QA_WORKERS > 1``) ``article-qa serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the
workers start: prometheus-client then keeps every worker's figures in files there, and whichever
worker answers a scrape adds them all up. Figures that belong to the store, not to a process
(articles stored), are read from it at scrape time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: an ask takes milliseconds, an ingest of a long article seconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
MODEL_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 0.5, 1)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _StoreCollector(Collector):
    """Gauges read at scrape time from the store every worker shares."""

    def __init__(self, count: Callable[[], int | None]) -> None:
        self._count = count

    def collect(self) -> Iterable[Metric]:
        count = self._count()
        if count is not None:
            gauge = GaugeMetricFamily("article_qa_articles_stored", "Articles in the store.")
            gauge.add_metric([], count)
            yield gauge


class Metrics:
    """The app's metrics; ``render`` gives the text a Prometheus server scrapes."""

    def __init__(self, articles_stored: Callable[[], int | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._articles_stored = articles_stored
        registry = self.registry
        self.requests = Counter(
            "article_qa_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "article_qa_request_duration_seconds",
            "Time from request to the end of the response, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.answers = Counter(
            "article_qa_answers",
            "Questions answered vs declined ('the article does not say').",
            ["outcome"],
            registry=registry,
        )
        self.model_seconds = Histogram(
            "article_qa_model_seconds",
            "Time ranking one question's sentences: encoder, keyword index and reader.",
            buckets=MODEL_BUCKETS,
            registry=registry,
        )
        self.ingested_sentences = Counter(
            "article_qa_ingested_sentences",
            "Sentences embedded and stored by ingests.",
            registry=registry,
        )
        self.store_errors = Counter(
            "article_qa_store_errors",
            "Requests that failed in the article store: unavailable (503) or unreadable (500).",
            ["kind"],
            registry=registry,
        )
        self.redis_errors = Counter(
            "article_qa_rate_limit_storage_errors",
            "Asks the shared rate-limit storage (Redis) could not count: served unlimited.",
            registry=registry,
        )

    def render(self) -> bytes:
        if (path := multiprocess_dir()) is not None:
            output = CollectorRegistry()
            MultiProcessCollector(output, path)  # type: ignore[no-untyped-call]
        else:
            output = self.registry
        # A fresh registry per scrape for the store's figures: cheap, and never registered twice.
        store = CollectorRegistry()
        store.register(_StoreCollector(self._articles_stored))
        return generate_latest(output) + generate_latest(store)


class RequestMetrics:
    """ASGI middleware: counts every HTTP request by route template (never by raw path, whose
    values are unbounded) and times it to the end of its response."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)
