"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.problems import problem
from service.state import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The model is loaded and indexes are ready (503 until then)",
    responses={503: {"description": "Still loading, or start-up failed"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    if runtime.library is None:
        detail = runtime.error or "the model and indexes are still loading"
        return problem(503, detail, headers={"Retry-After": "2"})
    return JSONResponse({"status": "ready", "articles": len(runtime.library.ids())})
