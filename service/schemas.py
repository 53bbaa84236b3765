"""Request and response models of the HTTP API: validation and OpenAPI docs live here only."""

from __future__ import annotations

import re
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    WithJsonSchema,
    model_validator,
)

from index.library import SearchHit
from index.retriever import IndexedArticle
from qa.article import published
from qa.models import Answer, Turn

MAX_QUESTION_CHARS = 1000
MAX_HISTORY = 50


def _encodable(value: object) -> object:
    """JSON may carry lone surrogates ("\\ud800" escapes): Python accepts them, but UTF-8 cannot
    encode them, so they would fail later in storage or when the response is written."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"character {exc.start} is a lone surrogate (\\u{ord(value[exc.start]):04x}), "
                "which is not valid Unicode; send UTF-8 text"
            ) from None
    return value


_S = TypeVar("_S", bound=str)
# Every request string: wrap the constrained type, Unicode[Annotated[str, ...]], so the check runs
# first and constraints keep their own messages (a constraint placed after it would not).
Unicode = Annotated[_S, BeforeValidator(_encodable)]


# The OpenAPI document states each rule the validators below enforce (with their own messages).
# Whitespace is what str.strip() removes (the characters for which str.isspace() is true; a test
# checks), spelled out because JSON Schema's \s (ECMA-262) is a different set. Not blank: a
# character that is not whitespace. Readable: nor a control character, which the article parser
# replaces by a space.
_SPACE = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK, READABLE = f"[^{_SPACE}]", f"[^\\x00-\\x1f\\x7f{_SPACE}]"
# A URL the server fetches (ingest by URL): http or https, a host name or IPv4 address in ASCII
# (an international name in its xn-- form), a port that exists, no user or password, and no
# space or control character; service.fetch then checks where it points.
_LABEL = "[A-Za-z0-9_-]+"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
FETCHABLE = (
    f"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_LABEL}\\.)*{_LABEL}\\.?(?::{_PORT})?"
    "(?:[/?#][^\\x00-\\x20\\x7f]*)?$"
)
_NOT_BLANK_SCHEMA = {"type": "string", "minLength": 1, "pattern": NOT_BLANK}
MAX_URL_CHARS = 2000


def _fetchable(url: str) -> str:
    """FETCHABLE's check, with a message that says what it means."""
    if not re.fullmatch(FETCHABLE, url):
        raise ValueError(
            "a URL to fetch is http:// or https://, a host (an international name in its xn-- "
            "form), an optional port and path, with no user name, password or space"
        )
    return url


def _stripped(if_blank: str) -> AfterValidator:
    def strip(value: str) -> str:
        if not (stripped := value.strip()):
            raise ValueError(if_blank)
        return stripped

    return AfterValidator(strip)


Question = Unicode[
    Annotated[
        str,
        StringConstraints(max_length=MAX_QUESTION_CHARS),
        _stripped("the question is empty; ask something about the article"),
        WithJsonSchema({**_NOT_BLANK_SCHEMA, "maxLength": MAX_QUESTION_CHARS}),
    ]
]
Query = Unicode[
    Annotated[
        str,
        StringConstraints(max_length=MAX_QUESTION_CHARS),
        _stripped("the query is empty; say what to look for"),
        WithJsonSchema({**_NOT_BLANK_SCHEMA, "maxLength": MAX_QUESTION_CHARS}),
    ]
]


def _json_integer(value: object) -> object:
    """A JSON Schema integer is a number without a fraction (6 or 6.0), not "6" or true, which
    pydantic would otherwise convert."""
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON integer, not a string or a boolean")
    return value


_Count = Annotated[int, BeforeValidator(_json_integer)]
# The parser rejects an article without readable text (422, EmptyArticleError).
_Source = Unicode[
    Annotated[str, WithJsonSchema({"type": "string", "minLength": 1, "pattern": READABLE})]
]
_HistoryQuestion = Unicode[Annotated[str, StringConstraints(max_length=MAX_QUESTION_CHARS)]]


class CitedIn(BaseModel):
    """Where an earlier answer was cited: the offsets of its first citation, as returned. The
    sentence holding ``start`` is the one the conversation moved to; ``[start, end)`` is read
    for the name a later "he" or "it" means."""

    model_config = ConfigDict(extra="forbid")

    start: _Count = Field(ge=0)
    end: _Count = Field(ge=0)


class HistoryTurn(BaseModel):
    """An earlier turn as a chat client has it: the question and where its answer was cited."""

    model_config = ConfigDict(extra="forbid")

    question: _HistoryQuestion = Field(description="The earlier question.")
    cited: CitedIn | None = Field(
        None,
        description="start and end of the answer's first citation as returned for it; null or "
        "absent when the answer was declined. Offsets outside the article are ignored.",
    )
    answer: _HistoryQuestion | None = Field(
        None, description="The answer's words (its first citation's answer_span text), if any."
    )

    def turn(self) -> Turn:
        cited = None if self.cited is None else (self.cited.start, self.cited.end)
        return Turn(self.question, cited, self.answer)


def _history_kind(value: object) -> str | None:
    """Which form a history turn has; the tags are bracketed so error locations can skip them
    (``service.problems``): a bad question is ``history.1``, a bad offset ``history.1.cited``."""
    if isinstance(value, str):
        return "(question)"
    return "(turn)" if isinstance(value, dict | HistoryTurn) else None


_HistoryItem = Annotated[
    Annotated[_HistoryQuestion, Tag("(question)")] | Annotated[HistoryTurn, Tag("(turn)")],
    Discriminator(
        _history_kind,
        custom_error_type="history_turn",
        custom_error_message="must be a question, or an object with its question",
    ),
]


class AskRequest(BaseModel):
    """A reader's question about one article, named by id or by URL (not both; neither: the
    default article)."""

    model_config = ConfigDict(
        extra="forbid",
        # Present at once, even with a null URL, they are refused, as _one_article checks.
        json_schema_extra={"not": {"required": ["article_id", "article_url"]}},
    )

    question: Question = Field(
        description="The question: 1 to 1000 characters, not all whitespace."
    )
    article_id: Unicode[Annotated[str, StringConstraints(max_length=200)]] = Field(
        "default", description="Which article to ask about, by id."
    )
    article_url: (
        Unicode[
            Annotated[
                str,
                StringConstraints(max_length=MAX_URL_CHARS),
                AfterValidator(_fetchable),
                WithJsonSchema(
                    {"type": "string", "maxLength": MAX_URL_CHARS, "pattern": FETCHABLE}
                ),
            ]
        ]
        | None
    ) = Field(
        None,
        description="Instead of article_id: the article published at this URL (http or https; "
        "the fragment is ignored), as stored by POST /v1/articles. One that is not stored yet is "
        "fetched and stored first when the server fetches from its host "
        "(ARTICLE_QA_FETCH_ALLOWED_HOSTS), else it is a 404. The answer's article_id names it.",
    )
    top_k: _Count = Field(3, ge=1, le=10, description="How many citations to return (1-10).")
    history: list[_HistoryItem] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="The reader's earlier turns in this conversation, oldest first: each its "
        "question, or an object with the question and where its answer was cited (as the "
        "widget sends them), which saves asking the earlier questions again.",
    )

    @model_validator(mode="after")
    def _one_article(self) -> AskRequest:
        if {"article_id", "article_url"} <= self.model_fields_set:
            raise ValueError("name the article by 'article_id' or by 'article_url', not both")
        return self


class SearchRequest(BaseModel):
    """A query over every stored article."""

    model_config = ConfigDict(extra="forbid")

    query: Query = Field(description="What to look for: 1 to 1000 characters, not all whitespace.")
    top_k: _Count = Field(5, ge=1, le=20, description="How many sentences to return (1-20).")


class SearchResultOut(BaseModel):
    article_id: str
    title: str
    quote: str = Field(description="The sentence, exactly the article's text[start:end].")
    start: int
    end: int
    score: float = Field(description="Cosine similarity to the query; results are best first.")

    @classmethod
    def of(cls, hit: SearchHit) -> SearchResultOut:
        sentence = hit.sentence
        return cls(
            article_id=hit.article_id,
            title=hit.title,
            quote=sentence.text,
            start=sentence.start,
            end=sentence.end,
            score=round(hit.score, 4),
        )


class SearchResponse(BaseModel):
    results: list[SearchResultOut]


class SpanOut(BaseModel):
    start: int = Field(description="Offset of the first character in the article text.")
    end: int = Field(description="Offset one past the last character (exclusive).")
    text: str = Field(description="Exactly article_text[start:end].")


class CitationOut(BaseModel):
    n: int = Field(description="The number used by the [n] marker in the answer.")
    quote: str = Field(description="The cited sentence(s), exactly article_text[start:end].")
    start: int = Field(description="Offset of the quote in the article text.")
    end: int = Field(description="End offset of the quote (exclusive).")
    passage: SpanOut = Field(description="The surrounding context of the quote.")
    score: float = Field(description="Ranking score; higher is better. Citations are best first.")
    answer_span: SpanOut | None = Field(
        None,
        description="The words of the quote that answer the question (inside [start, end)), as "
        "the reader model found them; null when it found none or the answer is declined.",
    )


class AskResponse(BaseModel):
    article_id: str
    answerable: bool = Field(description="False when the article does not seem to answer it.")
    answer: str = Field(
        description="Quoted article text with [n] markers, or a plain 'does not say' message."
    )
    confidence: float = Field(
        ge=0, le=1, description="Probability that the answer is in the article."
    )
    citations: list[CitationOut] = Field(
        description="Best first. When answerable is false these are only the closest sentences."
    )

    @classmethod
    def from_answer(cls, article_id: str, answer: Answer) -> AskResponse:
        return cls(
            article_id=article_id,
            answerable=answer.answerable,
            answer=answer.text,
            confidence=answer.confidence,
            citations=[
                CitationOut(
                    n=c.n,
                    quote=c.quote.text,
                    start=c.quote.start,
                    end=c.quote.end,
                    passage=SpanOut(start=c.passage.start, end=c.passage.end, text=c.passage.text),
                    score=c.score,
                    answer_span=None
                    if c.answer_span is None
                    else SpanOut(
                        start=c.answer_span.start, end=c.answer_span.end, text=c.answer_span.text
                    ),
                )
                for c in answer.citations
            ],
        )


class ArticleIn(BaseModel):
    """An article to ingest: exactly one of ``text`` or ``html``, or a ``url`` alone to fetch."""

    model_config = ConfigDict(
        extra="forbid",
        # Exactly one of them is a string (the other absent or null), or neither and a URL, as
        # _one_source checks.
        json_schema_extra={
            "oneOf": [
                {"required": ["text"], "properties": {"text": {"type": "string"}}},
                {"required": ["html"], "properties": {"html": {"type": "string"}}},
                {
                    "required": ["url"],
                    "properties": {
                        "url": {"type": "string", "pattern": FETCHABLE},
                        "text": {"type": "null"},
                        "html": {"type": "null"},
                    },
                },
            ]
        },
    )

    text: _Source | None = Field(
        None, description="Plain text; paragraphs separated by blank lines."
    )
    html: _Source | None = Field(
        None,
        description="An HTML page; scripts and navigation are dropped (422 when no text is left).",
    )
    title: Unicode[Annotated[str, StringConstraints(max_length=500)]] | None = Field(
        None, description="Title; derived when omitted."
    )
    url: Unicode[Annotated[str, StringConstraints(max_length=MAX_URL_CHARS)]] | None = Field(
        None,
        description="Where the article is published. Alone (no text or html): the page is "
        "fetched from there (http or https, public addresses only unless the server allows "
        "private ones), or the article already stored under this URL is returned.",
    )
    refresh: bool = Field(
        False, description="With a URL alone: fetch it again even when it is stored already."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ArticleIn:
        if self.text is not None and self.html is not None:
            raise ValueError("send exactly one of 'text' or 'html'")
        if self.text is None and self.html is None:
            if self.url is None:
                raise ValueError("send 'text', 'html' or a 'url' to fetch")
            _fetchable(self.url)
        return self


class ArticleCreated(BaseModel):
    id: str
    title: str
    sentences: int
    passages: int


class ArticleSummary(ArticleCreated):
    url: str | None
    byline: str | None
    publisher: str | None
    published: str | None = Field(
        description="When the article says it was published (YYYY-MM-DD), from its page's "
        "metadata or a dateline in its text."
    )
    created: str
    chars: int

    @classmethod
    def of(cls, indexed: IndexedArticle) -> ArticleSummary:
        article = indexed.article
        return cls(
            id=indexed.id,
            title=article.title,
            sentences=len(indexed.segmentation.sentences),
            passages=len(indexed.segmentation.passages),
            url=article.url,
            byline=article.byline,
            publisher=article.publisher,
            published=published(article),
            created=indexed.created,
            chars=len(article.text),
        )


class ArticleList(BaseModel):
    articles: list[ArticleSummary]


class SentenceOut(SpanOut):
    kind: str = Field(description="body, heading, meta (byline/publisher) or boilerplate.")


class ArticleDetail(BaseModel):
    """One article in full: the stored text and the spans that offsets in answers point into."""

    id: str
    title: str
    url: str | None
    byline: str | None
    publisher: str | None
    published: str | None
    created: str
    chars: int
    text: str = Field(description="The stored text that every offset refers to.")
    sentences: list[SentenceOut]
    passages: list[SpanOut]

    @classmethod
    def of(cls, indexed: IndexedArticle) -> ArticleDetail:
        summary = ArticleSummary.of(indexed).model_dump(exclude={"sentences", "passages"})
        return cls(
            **summary,
            text=indexed.article.text,
            sentences=[
                SentenceOut(start=s.start, end=s.end, text=s.text, kind=s.kind.value)
                for s in indexed.segmentation.sentences
            ],
            passages=[
                SpanOut(start=p.start, end=p.end, text=p.text)
                for p in indexed.segmentation.passages
            ],
        )
