"""The chat widget (GET /widget.js) and a demo page of the default article with it (GET /)."""

from __future__ import annotations

import hashlib
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from index.library import DEFAULT_ID
from qa.errors import ArticleNotFoundError
from qa.models import Article, Kind
from service.state import RuntimeDep

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
# Publishers embed the script on every page: let browsers and CDNs keep it for an hour, then
# revalidate cheaply with the ETag.
WIDGET_CACHE_CONTROL = "public, max-age=3600"
# The demo page runs no inline script and loads everything from this origin (the data: image is
# its empty favicon): a markup injection could not run script even if escaping failed.
DEMO_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


@cache
def _widget() -> tuple[bytes, str]:
    """The script and its ETag, read once: it only changes with a deploy."""
    body = (STATIC / "widget.js").read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@cache
def _demo_template() -> Template:
    return Template((STATIC / "demo.html").read_text(encoding="utf-8"))


@router.api_route("/widget.js", methods=["GET", "HEAD"])
def widget(request: Request) -> Response:
    body, etag = _widget()
    headers = {
        "Cache-Control": WIDGET_CACHE_CONTROL,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    candidates = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


def render_demo(article: Article) -> str:
    """The demo page: every block of the stored text as an element carrying ``data-start``, the
    offset of its first character, so the widget can map citation offsets onto the page. All
    article text is escaped: it is shown, never parsed as markup."""
    blocks = []
    for block in article.blocks:
        tag = "h2" if block.kind is Kind.HEADING else "p"
        text = escape(article.text[block.start : block.end], quote=False)
        blocks.append(
            f'<{tag} class="{block.kind.value}" data-start="{block.start}">{text}</{tag}>'
        )
    return _demo_template().substitute(title=escape(article.title), article="\n".join(blocks))


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def demo(runtime: RuntimeDep) -> HTMLResponse:
    if runtime.library is None:
        # Before the model has loaded there is no article to show; the page reloads itself.
        reason = escape(runtime.error or "Loading the model; this page reloads in a moment.")
        refresh = "" if runtime.error else '<meta http-equiv="refresh" content="2">'
        page = f"<!doctype html><title>article-qa</title>{refresh}<p>{reason}</p>"
        return HTMLResponse(page, status_code=503, headers={"Retry-After": "2"})
    try:
        article = runtime.library.get(DEFAULT_ID).article
    except ArticleNotFoundError:
        # A browser page, not the API's problem+json: a reader opened this URL.
        page = (
            "<!doctype html><title>article-qa</title><p>The default article has been deleted. "
            "It is indexed again when the server next starts; the API keeps serving the "
            'other articles (<a href="/docs">/docs</a>).</p>'
        )
        return HTMLResponse(page, status_code=404)
    return HTMLResponse(render_demo(article), headers={"Content-Security-Policy": DEMO_CSP})
