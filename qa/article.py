"""Turn plain text or HTML into an :class:`Article`: stored text, blocks, title and metadata.

The stored text is what every offset refers to, so it is built once here and never edited later.
For plain text it is the input with line endings normalised; for HTML it is the readable blocks
(headings, paragraphs, list items, byline) joined with blank lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime

import lxml.html
from lxml import etree

from qa.errors import EmptyArticleError
from qa.html import Metadata, Pieces, extracted, page_metadata, walked
from qa.models import Article, Block, Kind

_BOILERPLATE = re.compile(
    r"^(read next|read more|read also|also read|related|related articles?|see also|watch|listen"
    r"|subscribe|sign up|advertisement|click here|follow us|share this)\b\s*([:|\-–—]|$)",
    re.IGNORECASE,
)
_NAME = r"[A-Z][\w.'’-]*(?:\s+(?:[A-Z][\w.'’-]*|and|&|de|da|del|la|van|von|bin))*"
_BYLINE = re.compile(
    r"^(?:written by|words by|reporting by|story by|author|by)\s*:?\s*"
    rf"(?P<name>{_NAME}(?:,\s*{_NAME})?)\.?$",
    re.IGNORECASE,
)
_PUBLISHER = re.compile(
    r"^(?:this article is owned by|this article was (?:originally )?published (?:by|on|in)"
    r"|originally published (?:by|on|in)|published by|source:|copyright|©)\s*(?:©\s*)?"
    r"(?:\d{4}\s+)?(?P<name>[^\n]{2,80}?)\.?$",
    re.IGNORECASE,
)
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_DATELINE = re.compile(
    r"^(?:first published|published|posted|updated)\s*(?:on\b|:)?\s*"
    rf"(?P<date>\d{{1,2}} (?:{'|'.join(_MONTHS)}) \d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})\.?$",
    re.IGNORECASE,
)
# Full-width marks end CJK sentences, which have no spaces to count words by.
_TERMINAL = '.!?;:,"”’)…。！？」』'
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_BLANK_LINE = re.compile(r"\n[ \t\f\v\u00a0]*\n")

MAX_TITLE_CHARS = 120


def clean_text(text: str) -> str:
    """Normalise line endings and remove characters that cannot be stored or displayed.

    Lone surrogates (possible in JSON strings) cannot be encoded as UTF-8, and control characters
    only come from binary garbage; both are replaced so the stored text round-trips everywhere.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub(" ", text).strip()


def classify(block: str) -> Kind:
    """Say whether a block is body text, a heading, a byline/publisher line or boilerplate."""
    line = " ".join(block.split())
    if _BOILERPLATE.match(line):
        return Kind.BOILERPLATE
    if len(line) <= 100 and (
        _BYLINE.match(line) or _PUBLISHER.match(line) or _DATELINE.match(line)
    ):
        return Kind.META
    words = line.split()
    if (
        "\n" not in block.strip()
        and len(words) <= 14
        # Few words but many characters is a paragraph without spaces (CJK text, one long token).
        and len(line) <= MAX_TITLE_CHARS
        and line[-1] not in _TERMINAL
        and any(c.isalpha() for c in line)
    ):
        return Kind.HEADING
    return Kind.BODY


def _meta_names(text: str, blocks: Iterable[Block]) -> tuple[str | None, str | None]:
    byline = publisher = None
    for block in blocks:
        if block.kind is not Kind.META:
            continue
        line = " ".join(text[block.start : block.end].split())
        if byline is None and (m := _BYLINE.match(line)):
            byline = m["name"].strip()
        elif publisher is None and (m := _PUBLISHER.match(line)):
            publisher = m["name"].strip()
    return byline, publisher


def _paragraph_kind(line: str) -> Kind:
    kind = classify(line)
    return Kind.BODY if kind is Kind.HEADING else kind


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _iso_date(text: str) -> date | None:
    """A dateline's date ("16 April 2015" or "2015-04-16"), or None when it is no date."""
    for pattern in ("%Y-%m-%d", "%d %B %Y"):
        try:
            parsed = datetime.strptime(text.title() if "%B" in pattern else text, pattern)
        except ValueError:
            continue
        return parsed.date()
    return None


def _dateline(iso: str) -> str | None:
    """The line a page's publication date is stored as: "Published 16 April 2015"."""
    day = _iso_date(iso)
    return None if day is None else f"Published {day.day} {_MONTHS[day.month - 1]} {day.year}"


def published(article: Article) -> str | None:
    """When the article says it was published (its first dateline), as YYYY-MM-DD."""
    for block in article.blocks:
        if block.kind is Kind.META:
            line = " ".join(article.text[block.start : block.end].split())
            if (m := _DATELINE.match(line)) and (day := _iso_date(m["date"])):
                return day.isoformat()
    return None


def _derive_title(text: str, blocks: tuple[Block, ...]) -> str:
    """Use a leading heading, else the start of the first body paragraph."""
    for block in blocks:
        if block.kind is Kind.HEADING:
            return " ".join(text[block.start : block.end].split())
        if block.kind is Kind.BODY:
            first = " ".join(text[block.start : block.end].split())
            first = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
            if len(first) > MAX_TITLE_CHARS:
                first = first[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
            return first
    return "Untitled"


def _blocks_from_text(text: str) -> tuple[Block, ...]:
    """Split on blank lines; text without any blank line is taken as one paragraph per line."""
    separator = _BLANK_LINE if _BLANK_LINE.search(text) else re.compile(r"\n")
    blocks: list[Block] = []
    position = 0
    for piece in [*separator.finditer(text), None]:
        end = piece.start() if piece else len(text)
        chunk = text[position:end]
        stripped = chunk.strip()
        if stripped:
            start = position + (len(chunk) - len(chunk.lstrip()))
            stop = start + len(stripped)
            blocks.append(Block(start, stop, classify(stripped)))
        position = piece.end() if piece else len(text)
    return tuple(blocks)


def _read_as_body_if_nothing_citable(blocks: Iterable[Block]) -> tuple[Block, ...]:
    """When no block is citable, every block is read as body text: a one-line note ("Meeting
    moved to Tuesday") or a lone "READ MORE: ..." line is a short article to quote, not an empty
    one (so any text with a readable character is accepted, as the OpenAPI document says)."""
    blocks = tuple(blocks)
    if any(b.kind.citable for b in blocks):
        return blocks
    return tuple(replace(b, kind=Kind.BODY) for b in blocks)


def parse_text(text: str, title: str | None = None, url: str | None = None) -> Article:
    """Parse a plain-text article; raises EmptyArticleError when nothing readable is left."""
    stored = clean_text(text)
    blocks = _read_as_body_if_nothing_citable(_blocks_from_text(stored))
    if not any(b.kind.citable for b in blocks):
        raise EmptyArticleError("the article has no readable text; send at least one sentence")
    byline, publisher = _meta_names(stored, blocks)
    clean_title = " ".join((title or "").split()) or _derive_title(stored, blocks)
    return Article(
        text=stored, title=clean_title, blocks=blocks, byline=byline, publisher=publisher, url=url
    )


def parse_html(html: str, title: str | None = None, url: str | None = None) -> Article:
    """Parse an HTML page: the article's headings, paragraphs, list items and table rows
    (``qa.html``), then a byline and a dateline from the page's metadata."""
    # lxml refuses str input that carries an XML encoding declaration; the text is decoded already.
    html = _XML_DECLARATION.sub("", clean_text(html), count=1)
    if not html:
        raise EmptyArticleError("the HTML is empty; send a page with at least one paragraph")
    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError) as exc:
        raise EmptyArticleError(f"the HTML could not be parsed ({exc})") from exc
    found = page_metadata(doc)
    pieces: Pieces = []
    if (article := extracted(doc, url)) is not None:
        found_pieces, metadata = article
        # Its paragraphs are paragraphs (it marks headings): only a byline or a "Read more"
        # line among them is told apart by its text.
        pieces = [(line, kind or _paragraph_kind(line)) for line, kind in found_pieces]
        found = Metadata(
            title=metadata.title or found.title,
            author=metadata.author or found.author,
            date=metadata.date,
            site=metadata.site or found.site,
        )
    if not any((kind or classify(line)).citable for line, kind in pieces):
        pieces = walked(doc)
    elif len(pieces) == 1:
        # One block, which on a short page is trafilatura's plain-text fallback: the walk keeps
        # its paragraphs and headings apart, when it has no word the block lacks.
        walk = walked(doc)
        if _words(" ".join(line for line, _ in walk)) <= _words(pieces[0][0]):
            pieces = walk
    lines = [line for line, _ in pieces]
    if found.author and not any(_BYLINE.match(line) for line in lines):
        pieces.append((f"By {found.author}", Kind.META))
    if (
        found.date
        and (dateline := _dateline(found.date))
        and not any(_DATELINE.match(line) for line in lines)
    ):
        pieces.append((dateline, Kind.META))
    text_parts: list[str] = []
    blocks: list[Block] = []
    position = 0
    for line, kind in pieces:
        blocks.append(Block(position, position + len(line), kind or classify(line)))
        text_parts.append(line)
        position += len(line) + 2
    text = "\n\n".join(text_parts)
    blocks = list(_read_as_body_if_nothing_citable(blocks))
    if not any(b.kind.citable for b in blocks):
        raise EmptyArticleError("the HTML has no readable paragraphs; send the article's page")
    byline, publisher = _meta_names(text, blocks)
    clean_title = (
        " ".join((title or "").split()) or found.title or _derive_title(text, tuple(blocks))
    )
    return Article(
        text=text,
        title=clean_title[: MAX_TITLE_CHARS * 2],
        blocks=tuple(blocks),
        byline=byline or found.author,
        publisher=publisher or found.site,
        url=url,
    )


def looks_like_html(text: str) -> bool:
    """Guess whether a file's content is HTML (for the CLI, which accepts either)."""
    head = text.lstrip()[:1000].lower()
    return head.startswith(("<!doctype html", "<html")) or bool(
        re.search(r"<(p|div|article|body|h1|h2)[\s>]", head)
    )


def search_text(sentence: str, kind: Kind) -> str:
    """Text to index for a sentence: a byline or publisher line also says what it is.

    "Written by: Ross Key" shares no word with "Who wrote this article?", so metadata lines are
    indexed with a description of their role. Quotes always use the sentence itself.
    """
    if kind is not Kind.META:
        return sentence
    line = " ".join(sentence.split())
    if m := _BYLINE.match(line):
        return f"{line} The author, writer or reporter who wrote this article is {m['name']}."
    if m := _PUBLISHER.match(line):
        return (
            f"{line} The publisher, news outlet or publication that published and owns this "
            f"article is {m['name']}."
        )
    if m := _DATELINE.match(line):
        return f"{line} The date when this article was published, posted or written: {m['date']}."
    return sentence
