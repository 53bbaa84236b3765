"""Liveness and readiness probes, and the metrics a Prometheus server scrapes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from qa.errors import ArticleQAError
from service.guard import GuardDep
from service.metrics import CONTENT_TYPE
from service.problems import problem
from service.state import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The model is loaded and the article store answers (503 until then)",
    description="Also reports the rate-limit storage; while Redis is unreachable asks are "
    "served without a limit, so the server stays ready and says so here.",
    responses={503: {"description": "Still loading, start-up failed, or the store is down"}},
)
def readyz(runtime: RuntimeDep, guard: GuardDep) -> JSONResponse:
    # A plain def: the checks are network round trips, never on the event loop.
    library = runtime.library
    if library is None:
        detail = runtime.error or runtime.waiting or "the model and indexes are still loading"
        return problem(503, detail, headers={"Retry-After": "2"})
    limits = {"backend": guard.storage_backend, "ok": guard.storage_ok()}
    store: dict[str, Any] = {"backend": library.store.backend, "ok": True}
    try:
        articles = library.store.count()
    except ArticleQAError as exc:
        store |= {"ok": False, "error": str(exc)}
        return problem(
            503,
            f"the article store is unavailable: {exc}",
            headers={"Retry-After": "2"},
            store=store,
            rate_limit_storage=limits,
        )
    body = {"status": "ready", "articles": articles, "store": store, "rate_limit_storage": limits}
    return JSONResponse(body)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text format), summed over every worker of this server",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {}}}},
)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
