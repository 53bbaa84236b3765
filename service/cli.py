"""The ``article-qa`` command: serve, ingest, ask, list, delete, migrate.

Commands other than ``serve`` work on the data directory directly, so they need no running server.
Errors print one line to stderr and exit with status 1 (2 for usage errors, from argparse).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError
from threadpoolctl import threadpool_limits

from index.library import DEFAULT_ID, Library
from index.sqlite_store import DB_NAME, SqliteStore
from index.store import copy_articles
from index.stores import open_store
from qa.article import looks_like_html
from qa.errors import ArticleQAError
from service.fetch import FetchError, ingest_url
from service.settings import Settings
from service.state import build_library, real_encoder

# Ingests longer than this many sentences report progress on stderr.
PROGRESS_MIN_SENTENCES = 200
# What ``ingest`` fetches rather than reads as a file: any scheme, so ftp:// is refused clearly.
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def _library(settings: Settings) -> Library:
    return build_library(settings, real_encoder(settings))


def _progress(done: int, total: int) -> None:
    if total >= PROGRESS_MIN_SENTENCES:
        end = "\n" if done >= total else ""
        print(f"\rembedding sentences: {done}/{total}", end=end, file=sys.stderr, flush=True)


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    with contextlib.ExitStack() as stack:
        if settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            # Before any worker starts: each writes its metrics there, /metrics adds them up.
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="article-qa-metrics-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        # An import string, so each of several workers builds its own app (same settings).
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            workers=settings.workers,
            host=args.host,
            port=args.port,
            log_level="info",
        )


def _ingest(args: argparse.Namespace, settings: Settings) -> None:
    if _URL.match(args.file):
        with _library(settings) as library:
            indexed, _ = ingest_url(
                library,
                args.file,
                title=args.title,
                refresh=args.refresh,
                allow_private=settings.fetch_private_hosts,
            )
        print(indexed.id)
        return
    raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        source = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleQAError(
            f"{args.file} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    html = args.html or (not args.text and looks_like_html(source))
    with _library(settings) as library:
        indexed = library.ingest(
            source, html=html, title=args.title, url=args.url, progress=_progress
        )
    print(indexed.id)


def _collapsed(text: str, if_empty: str) -> str:
    """The text with runs of whitespace as single spaces; an error when nothing is left."""
    collapsed = " ".join(text.split())
    if not collapsed:
        raise ArticleQAError(if_empty)
    return collapsed


def _ask(args: argparse.Namespace, settings: Settings) -> None:
    from service.schemas import AskResponse

    question = _collapsed(args.question, "the question is empty; ask something about the article")
    with _library(settings) as library:
        if args.article == DEFAULT_ID:
            library.ensure_default()
        answer = library.ask(question, args.article, args.top_k)
    if args.json:
        print(AskResponse.from_answer(args.article, answer).model_dump_json(indent=2))
        return
    print(answer.text)
    if answer.citations and not answer.answerable:
        print("Closest sentences in the article (not an answer):")
    for citation in answer.citations:
        where = f"chars {citation.quote.start}-{citation.quote.end}"
        if (span := citation.answer_span) is not None:
            where += f"; answer {span.text!r} at {span.start}-{span.end}"
        print(f"  [{citation.n}] {citation.quote.text} ({where})")


def _search(args: argparse.Namespace, settings: Settings) -> None:
    from service.schemas import SearchResponse, SearchResultOut

    query = _collapsed(args.query, "the query is empty; say what to look for")
    with _library(settings) as library:
        hits = library.search(query, args.top_k)
    results = [SearchResultOut.of(hit) for hit in hits]
    if args.json:
        print(SearchResponse(results=results).model_dump_json(indent=2))
        return
    if not results:
        print("No stored article has a matching sentence.")
    for result in results:
        print(
            f"{result.score:.4f}\t{result.article_id}\t{result.quote} "
            f"(chars {result.start}-{result.end})"
        )


def _list(_: argparse.Namespace, settings: Settings) -> None:
    with _library(settings) as library:
        articles = library.articles()
    for indexed in articles:
        print(
            f"{indexed.id}\t{len(indexed.segmentation.sentences)} sentences"
            f"\t{indexed.article.title}"
        )


def _delete(args: argparse.Namespace, settings: Settings) -> None:
    with _library(settings) as library:
        library.delete(args.id)
    print(f"deleted {args.id}")


def _migrate(args: argparse.Namespace, settings: Settings) -> None:
    if not args.to.startswith(("postgresql://", "postgres://")):
        raise ArticleQAError(f"--to must be a postgresql:// URL, not {args.to[:40]!r}")
    if not (settings.data_dir / DB_NAME).is_file():
        raise ArticleQAError(f"there is no article database at {settings.data_dir / DB_NAME}")
    source = SqliteStore(settings.data_dir)
    try:
        target = open_store(settings.data_dir, args.to, 2)
        try:
            copied, kept = copy_articles(source, target)
            where = target.describe()
        finally:
            target.close()
    finally:
        source.close()
    print(f"copied {len(copied)} articles from {source.describe()} to {where}")
    if kept:
        print(f"kept {len(kept)} articles that {where} already had: {', '.join(kept[:10])}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="article-qa", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API and widget")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.set_defaults(run=_serve)

    ingest = commands.add_parser(
        "ingest", help="add an article from a text or HTML file or a URL; prints its id"
    )
    ingest.add_argument(
        "file", help="path to a .txt or .html file, - for stdin, or an http(s) URL to fetch"
    )
    ingest.add_argument("--title")
    ingest.add_argument("--url", help="where a file's article is published")
    ingest.add_argument(
        "--refresh", action="store_true", help="a URL stored already: fetch it again"
    )
    kind = ingest.add_mutually_exclusive_group()
    kind.add_argument("--html", action="store_true", help="treat the file as HTML")
    kind.add_argument("--text", action="store_true", help="treat the file as plain text")
    ingest.set_defaults(run=_ingest)

    ask = commands.add_parser("ask", help="ask a question about an article")
    ask.add_argument("question")
    ask.add_argument("--article", default=DEFAULT_ID, help="article id (default: %(default)s)")
    ask.add_argument("--top-k", type=int, default=3, choices=range(1, 11), metavar="1..10")
    ask.add_argument("--json", action="store_true", help="print the API's JSON response")
    ask.set_defaults(run=_ask)

    search = commands.add_parser(
        "search", help="find the closest sentences across every stored article"
    )
    search.add_argument("query")
    search.add_argument("--top-k", type=int, default=5, choices=range(1, 21), metavar="1..20")
    search.add_argument("--json", action="store_true", help="print the API's JSON response")
    search.set_defaults(run=_search)

    listing = commands.add_parser("list", help="list stored articles")
    listing.set_defaults(run=_list)

    delete = commands.add_parser("delete", help="delete an article")
    delete.add_argument("id")
    delete.set_defaults(run=_delete)

    migrate = commands.add_parser(
        "migrate",
        help="copy the SQLite store of ARTICLE_QA_DATA_DIR into PostgreSQL (vectors included, "
        "nothing re-embedded; articles already there are kept)",
    )
    migrate.add_argument("--to", required=True, metavar="postgresql://user:pass@host/db")
    migrate.set_defaults(run=_migrate)
    return root


def _one_line(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        return f"invalid setting ARTICLE_QA_{field.upper()}: {error['msg']}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command == "serve" else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("faiss").setLevel(logging.WARNING)
    try:
        settings = Settings()
        # Pinned as the app pins it (service.app): unpinned, numpy's OpenBLAS busy-waits a
        # thread per core beside ONNX Runtime's threads.
        threadpool_limits(limits=settings.threads, user_api="blas")
        args.run(args, settings)
    except (ArticleQAError, FetchError, OSError, ValidationError) as exc:
        message = _one_line(exc)
        print(f"article-qa: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
