"""RFC 9457 problem+json: every error the API returns is mapped here, once."""

from __future__ import annotations

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
)

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
    503: "Service unavailable",
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
    parts = [str(p) for p in loc if p not in ("body",)]
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

    @app.exception_handler(NotReadyError)
    async def not_ready(_: Request, exc: NotReadyError) -> JSONResponse:
        return problem(503, str(exc), headers={"Retry-After": "2"})

    @app.exception_handler(ModelUnavailableError)
    async def no_model(_: Request, exc: ModelUnavailableError) -> JSONResponse:
        return problem(503, str(exc))

    @app.exception_handler(IndexMismatchError)
    async def corrupt(_: Request, exc: IndexMismatchError) -> JSONResponse:
        logger.error("%s", exc)
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


class BodyLimit:
    """Reject request bodies over a size limit before they are read in full (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            # Raised inside the route's body read, so FastAPI turns it into a 413 problem.
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise StarletteHTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)

    def _detail(self) -> str:
        return f"the request body is larger than {self.max_bytes:,} bytes"

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        await problem(413, self._detail())(scope, receive, send)
