"""POST /v1/ask: a question in, a cited answer out."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from index.library import Library
from index.retriever import IndexedArticle
from service.fetch import ingest_url, normalised
from service.guard import GuardDep, limit_asks
from service.problems import BODY_ERRORS
from service.schemas import AskRequest, AskResponse
from service.settings import Settings
from service.state import LibraryDep, MetricsDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["ask"])


def published_at(
    url: str, library: Library, settings: Settings, before_fetch: Callable[[], None]
) -> IndexedArticle:
    """The article stored under ``url``; else, from a host in ARTICLE_QA_FETCH_ALLOWED_HOSTS,
    the page fetched and stored now (so a publisher's widget needs no ingest step); else a 404
    that says how to add it."""
    address = normalised(url)
    stored = library.find_url(str(address), url)
    if stored is not None:
        return stored
    host = address.raw_host.decode("ascii").rstrip(".")
    if host not in settings.fetch_allowed_hosts:
        raise HTTPException(
            404,
            f"no article is stored for {address}; add it with POST /v1/articles "
            f'{{"url": ...}}, or let this server fetch the pages of {host} when they are asked '
            "about (ARTICLE_QA_FETCH_ALLOWED_HOSTS)",
        )
    indexed, _ = ingest_url(
        library, url, allow_private=settings.fetch_private_hosts, before_fetch=before_fetch
    )
    return indexed


@router.post(
    "/ask",
    summary="Answer a question about an article with cited sentences",
    responses={
        **BODY_ERRORS,
        403: {"description": "article_url: the server does not fetch from its address"},
        404: {"description": "Unknown article, or no article stored for article_url"},
        413: {"description": "article_url: the page fetched is too large"},
        422: {"description": "Invalid question; article_url: the page fetched is not a page"},
        429: {"description": "Too many questions, or pages fetched, for this client"},
        502: {"description": "article_url: the site failed (unreachable, an error, redirects)"},
        504: {"description": "article_url: the site was too slow"},
    },
    dependencies=[Depends(limit_asks)],
)
async def ask(
    request: AskRequest,
    http: Request,
    library: LibraryDep,
    runtime: RuntimeDep,
    guard: GuardDep,
    metrics: MetricsDep,
) -> AskResponse:
    article_id, indexed = request.article_id, None
    if request.article_url is not None:
        # A lookup in the store, perhaps a fetch and an ingest: never on the event loop.
        indexed = await run_in_threadpool(
            published_at,
            request.article_url,
            library,
            runtime.settings,
            partial(guard.check_fetch, http),
        )
        article_id = indexed.id
    elif not request.history:
        indexed = library.loaded(article_id)
    history = [turn if isinstance(turn, str) else turn.turn() for turn in request.history]
    args = (request.question, article_id, request.top_k, history)
    if not request.history and indexed is not None:
        # The common case costs ~3 ms of CPU: cheaper on the event loop than a hop to a worker
        # thread and back (measured 1.3 ms less per request with two workers).
        answer = library.ask(*args, indexed=indexed)
    else:
        # Loading or rebuilding an article, or resolving a follow-up from a long history, can
        # take much longer: never on the event loop.
        answer = await run_in_threadpool(library.ask, *args, indexed=indexed)
    metrics.answers.labels("answered" if answer.answerable else "declined").inc()
    return AskResponse.from_answer(article_id, answer)
