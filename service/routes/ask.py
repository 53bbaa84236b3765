"""POST /v1/ask: a question in, a cited answer out."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.guard import limit_asks
from service.schemas import AskRequest, AskResponse
from service.state import LibraryDep

router = APIRouter(prefix="/v1", tags=["ask"])


@router.post(
    "/ask",
    summary="Answer a question about an article with cited sentences",
    responses={
        404: {"description": "Unknown article"},
        422: {"description": "Invalid question"},
        429: {"description": "Too many questions from this client; see Retry-After"},
    },
    dependencies=[Depends(limit_asks)],
)
def ask(request: AskRequest, library: LibraryDep) -> AskResponse:
    # A plain def: FastAPI runs it in a worker thread, so encoding never blocks the event loop.
    answer = library.ask(request.question, request.article_id, request.top_k, request.history)
    return AskResponse.from_answer(request.article_id, answer)
