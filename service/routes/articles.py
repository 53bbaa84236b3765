"""/v1/articles: ingest, list, read and delete articles."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from service.guard import require_writer
from service.problems import BODY_ERRORS
from service.schemas import ArticleCreated, ArticleDetail, ArticleIn, ArticleList, ArticleSummary
from service.state import LibraryDep, MetricsDep

router = APIRouter(prefix="/v1/articles", tags=["articles"])
WRITE_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "ARTICLE_QA_API_KEY is set and no bearer token was sent"},
    403: {"description": "Wrong key, or no key is set and the client is not on loopback"},
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add an article from plain text or HTML",
    responses={
        **BODY_ERRORS,
        **WRITE_ERRORS,
        413: {"description": "Article or body too large"},
        422: {"description": "No readable text"},
    },
    dependencies=[Depends(require_writer)],
)
def create_article(
    body: ArticleIn, library: LibraryDep, metrics: MetricsDep, response: Response
) -> ArticleCreated:
    source = body.html if body.html is not None else body.text
    assert source is not None  # guaranteed by ArticleIn's validator
    indexed = library.ingest(source, html=body.html is not None, title=body.title, url=body.url)
    metrics.ingested_sentences.inc(len(indexed.segmentation.sentences))
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
