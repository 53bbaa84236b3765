"""Frozen value types shared by every layer.

Offsets are always ``[start, end)`` indices into ``Article.text``, the text exactly as stored and
returned by the API, so ``article.text[start:end]`` is the quoted string.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What a block of article text is, which decides whether it can be cited."""

    BODY = "body"
    HEADING = "heading"
    META = "meta"  # byline / publisher lines: citable when a reader asks about them
    BOILERPLATE = "boilerplate"  # "READ NEXT: ...", never cited

    @property
    def citable(self) -> bool:
        return self in (Kind.BODY, Kind.META)


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph-level block of the article (paragraph, heading, byline...)."""

    start: int
    end: int
    kind: Kind


@dataclass(frozen=True, slots=True)
class Article:
    """A parsed article: the stored text plus its block structure and metadata."""

    text: str
    title: str
    blocks: tuple[Block, ...]
    byline: str | None = None
    publisher: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence with its position in the article and in its block."""

    index: int
    start: int
    end: int
    text: str
    block: int
    kind: Kind
    passage: int = -1


@dataclass(frozen=True, slots=True)
class Passage:
    """A run of consecutive sentences of one block: the context shown with a citation."""

    index: int
    start: int
    end: int
    text: str
    sentences: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Segmentation:
    """An article cut into sentences and passages."""

    sentences: tuple[Sentence, ...]
    passages: tuple[Passage, ...]


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked sentence and its score (higher is better)."""

    sentence: int
    score: float
    span: tuple[int, int] | None = None  # the answer's words inside the sentence, in the article


@dataclass(frozen=True, slots=True)
class Span:
    """A quoted or context span of the article."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered pointer from an answer into the article."""

    n: int
    quote: Span
    passage: Span
    score: float
    answer_span: Span | None = None  # the words of the quote that answer the question


@dataclass(frozen=True, slots=True)
class Answer:
    """What the reader sees, plus the evidence behind it."""

    answerable: bool
    text: str
    confidence: float
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier turn of a conversation, as a chat client has it: the question, and where the
    answer it was shown lies in the article (``cited``: the first citation's ``[start, end)``;
    ``answer``: the answer's words), both None when it was declined or the client did not say."""

    question: str
    cited: tuple[int, int] | None = None
    answer: str | None = None
