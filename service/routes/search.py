"""POST /v1/search: the sentences closest to a query across every stored article."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.guard import limit_asks
from service.problems import BODY_ERRORS
from service.schemas import SearchRequest, SearchResponse, SearchResultOut
from service.state import LibraryDep

router = APIRouter(prefix="/v1", tags=["search"])


@router.post(
    "/search",
    summary="Find the closest sentences across the whole archive",
    responses={
        **BODY_ERRORS,
        422: {"description": "Invalid query"},
        429: {"description": "Too many requests from this client; see Retry-After"},
    },
    dependencies=[Depends(limit_asks)],
)
def search(request: SearchRequest, library: LibraryDep) -> SearchResponse:
    hits = library.search(request.query, request.top_k)
    return SearchResponse(results=[SearchResultOut.of(hit) for hit in hits])
