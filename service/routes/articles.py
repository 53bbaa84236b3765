"""/v1/articles: ingest, list, read and delete articles."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from service.fetch import ingest_url
from service.guard import require_writer
from service.problems import BODY_ERRORS
from service.schemas import ArticleCreated, ArticleDetail, ArticleIn, ArticleList, ArticleSummary
from service.state import LibraryDep, MetricsDep, RuntimeDep

router = APIRouter(prefix="/v1/articles", tags=["articles"])
WRITE_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "ARTICLE_QA_API_KEY is set and no bearer token was sent"},
    403: {"description": "Wrong key, or no key is set and the client is not on loopback"},
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add an article from plain text, HTML or a URL to fetch",
    responses={
        **BODY_ERRORS,
        **WRITE_ERRORS,
        200: {"description": "A URL alone, stored already: that article", "model": ArticleCreated},
        413: {"description": "Article, body or fetched page too large"},
        422: {"description": "No readable text; a URL that is not fetched (scheme, address)"},
        502: {"description": "The URL's site failed (unreachable, an error, too many redirects)"},
        504: {"description": "The URL's site was too slow"},
    },
    dependencies=[Depends(require_writer)],
)
def create_article(
    body: ArticleIn,
    library: LibraryDep,
    runtime: RuntimeDep,
    metrics: MetricsDep,
    response: Response,
) -> ArticleCreated:
    source = body.html if body.html is not None else body.text
    if source is not None:
        indexed = library.ingest(source, html=body.html is not None, title=body.title, url=body.url)
        added = True
    else:
        assert body.url is not None  # guaranteed by ArticleIn's validator
        indexed, added = ingest_url(
            library,
            body.url,
            title=body.title,
            refresh=body.refresh,
            allow_private=runtime.settings.fetch_private_hosts,
        )
    if added:
        metrics.ingested_sentences.inc(len(indexed.segmentation.sentences))
    else:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/articles/{indexed.id}"
    return ArticleCreated(
        id=indexed.id,
        title=indexed.article.title,
        sentences=len(indexed.segmentation.sentences),
        passages=len(indexed.segmentation.passages),
    )


@router.get("", summary="List stored articles")
def list_articles(library: LibraryDep) -> ArticleList:
    return ArticleList(articles=[ArticleSummary.of(a) for a in library.articles()])


@router.get(
    "/{article_id}",
    summary="An article's stored text, metadata and sentence offsets",
    responses={404: {"description": "Unknown article"}},
)
def get_article(article_id: str, library: LibraryDep) -> ArticleDetail:
    return ArticleDetail.of(library.get(article_id))


@router.delete(
    "/{article_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an article and its index",
    responses={**WRITE_ERRORS, 404: {"description": "Unknown article"}},
    dependencies=[Depends(require_writer)],
)
def delete_article(article_id: str, library: LibraryDep) -> Response:
    library.delete(article_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
