"""RFC 9457 problem+json: every error the API returns is mapped here, once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.encoder import ModelUnavailableError
from qa.errors import (
    ArticleNotFoundError,
    ArticleTooLargeError,
    EmptyArticleError,
    IndexMismatchError,
    StoreUnavailableError,
)
from service.fetch import FetchError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


# What every operation with a JSON body may answer before the body reaches its model, for the
# OpenAPI document (syntax errors in the JSON itself are 422, with the position).
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body cannot be decoded (not UTF-8)"},
    413: {"description": "The body is larger than ARTICLE_QA_MAX_BODY_BYTES"},
}


class NotReadyError(Exception):
    """The model or the indexes are still loading."""


def problem(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem+json response; ``type`` is left as about:blank, so ``title`` is the status."""
    body = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    # A bracketed part is a union's tag (service.schemas._history_kind), not a field.
    parts = [str(p) for p in loc if p != "body" and not str(p).startswith("(")]
    return ".".join(parts) or "body"


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method a route serves on the request's path: RFC 9110 asks a 405 to list them all.

    Each method is tried against the routes (included routers answer only that), a rare cost.
    """
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


def install(app: FastAPI) -> None:
    """Register one handler per domain error and for framework errors."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _location(e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(422, detail or "the request is not valid", errors=errors[:20])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette's Allow names the first route on the path only
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(ArticleNotFoundError)
    async def not_found(_: Request, exc: ArticleNotFoundError) -> JSONResponse:
        return problem(404, f"{exc}; GET /v1/articles lists the stored articles")

    @app.exception_handler(ArticleTooLargeError)
    async def too_large(_: Request, exc: ArticleTooLargeError) -> JSONResponse:
        return problem(413, str(exc))

    @app.exception_handler(EmptyArticleError)
    async def empty(_: Request, exc: EmptyArticleError) -> JSONResponse:
        return problem(422, str(exc))

    @app.exception_handler(FetchError)
    async def not_fetched(_: Request, exc: FetchError) -> JSONResponse:
        return problem(exc.status, f"the page was not fetched: {exc}")

    @app.exception_handler(NotReadyError)
    async def not_ready(_: Request, exc: NotReadyError) -> JSONResponse:
        return problem(503, str(exc), headers={"Retry-After": "2"})

    @app.exception_handler(ModelUnavailableError)
    async def no_model(_: Request, exc: ModelUnavailableError) -> JSONResponse:
        return problem(503, str(exc))

    @app.exception_handler(StoreUnavailableError)
    async def store_down(request: Request, exc: StoreUnavailableError) -> JSONResponse:
        logger.error("%s", exc)
        request.app.state.metrics.store_errors.labels("unavailable").inc()
        return problem(
            503, f"the article store is unavailable: {exc}", headers={"Retry-After": "2"}
        )

    @app.exception_handler(IndexMismatchError)
    async def corrupt(request: Request, exc: IndexMismatchError) -> JSONResponse:
        logger.error("%s", exc)
        request.app.state.metrics.store_errors.labels("unreadable").inc()
        return problem(500, str(exc))


class CatchAll:
    """Turn an unhandled error into a 500 problem here, inside the CORS middleware.

    Starlette's own handler for ``Exception`` sits outside every middleware, so its 500 carried no
    CORS headers and a widget on another origin saw a bare network error instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            logger.exception("unhandled error")
            if started:  # too late for a problem response: let the server close the connection
                raise
            await problem(500, "unexpected server error; it has been logged")(scope, receive, send)


# After a 413 for the body, at most this much of it is read and discarded, for at most this long.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0


class BodyLimit:
    """Reject request bodies over a size limit before they are read in full (413).

    The 413 goes out first; then the rest of the body is read and thrown away (up to
    ``DRAIN_BYTES`` or ``DRAIN_SECONDS``) and the connection is closed. A socket closed with
    unread data is reset, so a client that sends its whole body before reading the answer (urllib,
    requests, http.client) would see "connection reset" instead of the 413; beyond the bounds it
    still does. A client waiting for "100 Continue" has sent no body and is not waited for.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        body = _Body(receive)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body.rejected = True
            # A client waiting for "100 Continue" sends no body after a 413: nothing to drain.
            body.complete = headers.get(b"expect", b"").lower() == b"100-continue"
            await problem(413, self._detail())(scope, body.receive, body.closing(send))
            return

        async def limited() -> Message:
            # Raised inside the route's body read, so FastAPI turns it into a 413 problem.
            message = await body.receive()
            if body.seen > self.max_bytes:
                body.rejected = True
                raise StarletteHTTPException(413, self._detail())
            return message

        await self.app(scope, limited, body.closing(send))

    def _detail(self) -> str:
        return f"the request body is larger than {self.max_bytes:,} bytes"


class _Body:
    """One request's body as it is received: how much, whether all of it, and whether rejected."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.seen = 0
        self.complete = False
        self.rejected = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        else:  # http.disconnect: nothing more will come
            self.complete = True
        return message

    def closing(self, send: Send) -> Send:
        """``send``, except that a rejected body's 413 closes the connection after the drain."""

        async def wrapped(message: Message) -> None:
            if not self.rejected:
                await send(message)
                return
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"connection", b"close")],
                }
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await send({**message, "more_body": True})  # the whole problem, then the drain
                await self._drain()
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        return wrapped

    async def _drain(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                while not self.complete and self.seen <= DRAIN_BYTES:
                    await self.receive()
