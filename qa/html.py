"""The article in a web page, as blocks of text with their kind, and the page's metadata.

Pages carry much that is not the article: menus, teasers of other stories, comment threads,
cookie prompts, link lists. Whatever is kept here becomes citable text, so the article body is
found by trafilatura (Apache-2.0; the best of the extractors measured by ``bench.extraction``),
which also reads the title, author, publication date and site name. A page it finds no article
in (some short or unusual pages) is read by ``walked``, a plain walk over the page's block
elements, so any page with text gives an article.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.settings import Document

from qa.models import Kind

# trafilatura logs every page it finds nothing in; the fallback below handles those.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

Pieces = list[tuple[str, Kind | None]]  # a block's text, and its kind when the markup says it

# Elements whose content a reader never sees as text, and those never article text.
_NEVER_TEXT = (
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas",
    "button", "select", "textarea", "input", "dialog",
)  # fmt: skip
_DROP = (*_NEVER_TEXT, "nav", "header", "footer", "aside", "menu", "head")
# ... and, in the body, what the page hides (a modal's template, text for screen readers only).
_STYLE = "translate(@style, ' ', '')"
_HIDDEN = "|".join(
    [
        *(f"//body//{tag}" for tag in _NEVER_TEXT),
        "//body//*[@hidden]",
        "//body//*[@aria-hidden='true']",
        f"//body//*[contains({_STYLE}, 'display:none') or contains({_STYLE}, 'visibility:hidden')]",
    ]
)
_BLOCK_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "figcaption", "dd", "dt",
     "td", "th", "caption", "address"}
)  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Tags whose kind is known from markup; others are classified by their text.
_TAG_KINDS = {tag: Kind.HEADING for tag in _HEADINGS} | {
    tag: Kind.BODY for tag in ("li", "td", "th", "dd", "dt", "pre")
}
_CONTAINERS = frozenset({"div", "section", "article", "main", "body", "td", "li", "blockquote"})
# trafilatura's output elements: which are one block each, and their kind.
_EXTRACTED_KINDS: dict[str, Kind | None] = {
    "head": Kind.HEADING,
    "p": None,  # a paragraph can be a byline or a "Read more" line: classified by its text
    "item": Kind.BODY,
    "code": Kind.BODY,
    "row": Kind.BODY,
}
CELL_SEPARATOR = " | "


@dataclass(frozen=True, slots=True)
class Metadata:
    title: str | None = None
    author: str | None = None
    date: str | None = None  # ISO 8601, YYYY-MM-DD
    site: str | None = None


def _one_line(text: str | None) -> str | None:
    line = " ".join((text or "").split())
    return line or None


def _text(element: etree._Element) -> str:
    """An element's text, a line break read as a space (``<p>One<br>Two</p>`` is "One Two")."""
    parts = [element.text or ""]
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in ("lb", "br"):
            parts.append(" ")
        elif tag == "cell" or (tag and tag in _EXTRACTED_KINDS):
            parts.append(" " + _text(child) + " ")
        elif tag:
            parts.append(_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _extracted_pieces(element: etree._Element) -> Iterator[tuple[str, Kind | None]]:
    """The blocks of trafilatura's output, in order: a paragraph, heading, list item, code
    block or table row each. Inside an element that holds further blocks (a quote, a list, an
    item with a nested list), its own text between them is a block of its own too."""
    kind = _EXTRACTED_KINDS.get(element.tag) if isinstance(element.tag, str) else None
    loose: list[str] = [element.text or ""]
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == "row":
            if line := _one_line("".join(loose)):
                yield line, kind
            loose = []
            cells = [_one_line(_text(cell)) for cell in child if cell.tag == "cell"]
            if row := CELL_SEPARATOR.join(c for c in cells if c):
                yield row, Kind.BODY
        elif tag in _EXTRACTED_KINDS or any(
            isinstance(c.tag, str) and c.tag in _EXTRACTED_KINDS for c in child.iter()
        ):
            if line := _one_line("".join(loose)):
                yield line, kind
            loose = []
            yield from _extracted_pieces(child)
        elif tag in ("lb", "br"):
            loose.append(" ")
        elif tag:
            loose.append(_text(child))
        loose.append(child.tail or "")
    if line := _one_line("".join(loose)):
        yield line, kind


def extracted(doc: lxml.html.HtmlElement, url: str | None) -> tuple[Pieces, Metadata] | None:
    """The article's blocks and the page's metadata as trafilatura finds them in ``doc`` (left
    as it was); None when it finds no article (or fails on the page)."""
    page = copy.deepcopy(doc)
    # What a browser never shows as text: trafilatura would keep an iframe's or a noscript's
    # fallback text. Only in the body: the head's scripts hold the page's metadata (JSON-LD).
    for element in cast(list[lxml.html.HtmlElement], page.xpath(_HIDDEN)):
        element.drop_tree()
    try:
        document = trafilatura.bare_extraction(
            page,
            url=url,
            favor_recall=True,  # measured: keeps more article text, and little else
            include_comments=False,  # a reader's comment is not the article
            include_tables=True,
            with_metadata=True,
        )
    except Exception:  # a library failure on one page must fall back, never fail the ingest
        logging.getLogger(__name__).exception("trafilatura failed on a page; walking it")
        return None
    if not isinstance(document, Document) or document.body is None:
        return None
    pieces = list(_extracted_pieces(document.body))
    metadata = Metadata(
        title=_one_line(document.title),
        author=_one_line(document.author),
        date=_one_line(document.date),
        site=_one_line(document.sitename),
    )
    return (pieces, metadata) if pieces else None


def _meta_content(doc: lxml.html.HtmlElement, *selectors: str) -> str | None:
    for selector in selectors:
        for value in cast(list[str], doc.xpath(selector)):
            if cleaned := _one_line(str(value)):
                return cleaned
    return None


def page_metadata(doc: lxml.html.HtmlElement) -> Metadata:
    """What the page's own head says (the fallback's metadata)."""
    return Metadata(
        title=_meta_content(
            doc, "//meta[@property='og:title']/@content", "//h1//text()", "//title/text()"
        ),
        author=_meta_content(
            doc, "//meta[@name='author']/@content", "//meta[@property='article:author']/@content"
        ),
        site=_meta_content(doc, "//meta[@property='og:site_name']/@content"),
    )


def walked(doc: lxml.html.HtmlElement) -> Pieces:
    """Every block element's text, in document order, once scripts, styles, navigation, form
    controls and hidden elements are dropped (a form's text stays: some sites put the whole
    page in one)."""
    # Only comments inside an element: one before <html> has no parent and cannot be dropped.
    drop = "|".join(
        [_HIDDEN, *(f"//{tag}" for tag in _DROP), "//*/comment()", "//*/processing-instruction()"]
    )
    for element in cast(list[lxml.html.HtmlElement], doc.xpath(drop)):
        element.drop_tree()
    for br in doc.iter("br"):
        br.tail = " " + (br.tail or "")
    body = doc.find("body")
    out: Pieces = []

    def flush(parts: list[str], kind: Kind | None) -> None:
        if line := _one_line(" ".join(parts)):
            out.append((line, kind))
        parts.clear()

    def walk(element: lxml.html.HtmlElement) -> None:
        loose: list[str] = [element.text or ""]
        for child in element:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in _BLOCK_TAGS or tag in _CONTAINERS or tag in ("br", "hr", "table", "ul", "ol"):
                flush(loose, None)
                if tag in _BLOCK_TAGS and not any(
                    isinstance(c.tag, str) and c.tag in _BLOCK_TAGS
                    for c in child.iter()
                    if c is not child
                ):
                    flush([child.text_content()], _TAG_KINDS.get(tag))
                elif tag not in ("br", "hr"):
                    walk(child)
            elif tag:
                loose.append(child.text_content())
            loose.append(child.tail or "")
        flush(loose, None)

    walk(body if body is not None else doc)
    return out
