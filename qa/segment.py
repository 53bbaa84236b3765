"""Cut an article's blocks into sentences and passages with exact character offsets.

A rule-based splitter (terminal punctuation, then whitespace, then something that can start a
sentence) with an abbreviation list: fast, deterministic, and it never rewrites the text, which is
what keeps ``text[start:end] == quote`` true for any input.
"""

from __future__ import annotations

import re

from qa.models import Article, Passage, Segmentation, Sentence

# Words that end in a full stop without ending a sentence.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "sr",
        "jr",
        "gen",
        "sen",
        "rep",
        "gov",
        "lt",
        "col",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "maj",
        "pres",
        "supt",
        "insp",
        "inc",
        "ltd",
        "co",
        "corp",
        "bros",
        "no",
        "nos",
        "vs",
        "etc",
        "al",
        "fig",
        "approx",
        "dept",
        "est",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mt",
        "ft",
        "ave",
        "blvd",
        "rd",
        "u.s",
        "u.k",
        "u.n",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
    ]
)
# Abbreviations that also end sentences ("sanctions from the U.S. The decision ..."): after them a
# boundary is taken when the next word is one that starts sentences, not names ("U.S. Army").
# Street types too: "Downing St. The house ...", but "St. Louis".
_SENTENCE_FINAL = frozenset(
    [
        "u.s",
        "u.k",
        "u.n",
        "inc",
        "ltd",
        "co",
        "corp",
        "bros",
        "etc",
        "jr",
        "sr",
        "a.m",
        "p.m",
        "st",
        "ave",
        "blvd",
        "rd",
    ]
)
_STARTERS = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "he",
        "she",
        "they",
        "we",
        "i",
        "you",
        "his",
        "her",
        "their",
        "our",
        "my",
        "there",
        "here",
        "but",
        "and",
        "so",
        "yet",
        "or",
        "if",
        "when",
        "while",
        "after",
        "before",
        "as",
        "since",
        "because",
        "although",
        "though",
        "however",
        "meanwhile",
        "still",
        "then",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "without",
        "under",
        "over",
        "during",
        "despite",
    ]
)
_NEXT_WORD = re.compile(r"\s+[\"'“‘(\[]?(\w+)")
# Candidate boundary: terminal punctuation, optional closing quotes/brackets, then whitespace.
# A match starts only where a run of punctuation starts: retrying from every character of a long
# run ("......") would take quadratic time, long enough to hang a request.
_BOUNDARY = re.compile(r"(?<![.!?…])[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])")
MAX_SENTENCE_CHARS = 1000
PASSAGE_SENTENCES = 3
PASSAGE_CHARS = 700


def _is_abbreviation(text: str, dot: int, after: int) -> bool:
    """True when the full stop at ``dot`` closes an abbreviation or an initial, not a sentence.

    ``after`` is where the boundary's punctuation ends and the next sentence would start.
    """
    if text[dot] != ".":
        return False
    word_start = dot
    while (
        word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in '("“'
    ):
        word_start -= 1
    word = text[word_start:dot].lower()
    if word in _SENTENCE_FINAL and (following := _NEXT_WORD.match(text, after)):
        return following.group(1).lower() not in _STARTERS
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _hard_split(start: int, end: int, text: str) -> list[tuple[int, int]]:
    """Split an over-long run at whitespace (or anywhere) so no sentence exceeds the cap."""
    spans = []
    while end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start + MAX_SENTENCE_CHARS // 2, start + MAX_SENTENCE_CHARS)
        cut = cut if cut > start else start + MAX_SENTENCE_CHARS
        stop = cut
        while stop > start and text[stop - 1].isspace():  # keep pieces whitespace-trimmed
            stop -= 1
        spans.append((start, stop))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        spans.append((start, end))
    return spans


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Return ``[start, end)`` spans of the sentences in ``text[start:end]``, whitespace-trimmed."""
    spans: list[tuple[int, int]] = []
    position = start
    for match in _BOUNDARY.finditer(text, start, end):
        if _is_abbreviation(text, match.start(), match.end()):
            continue
        spans.append((position, match.end()))
        position = match.end()
    spans.append((position, end))
    trimmed: list[tuple[int, int]] = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            trimmed.extend(_hard_split(a, b, text))
    return trimmed


def segment(article: Article) -> Segmentation:
    """Cut every block into sentences, and runs of up to three sentences into passages."""
    text = article.text
    sentences: list[Sentence] = []
    passages: list[Passage] = []
    for block_index, block in enumerate(article.blocks):
        group: list[tuple[int, int]] = []
        spans = split_sentences(text, block.start, block.end)
        for n, (a, b) in enumerate(spans):
            group.append((a, b))
            last = n == len(spans) - 1
            full = len(group) >= PASSAGE_SENTENCES or b - group[0][0] >= PASSAGE_CHARS
            if not (last or full):
                continue
            passage_index = len(passages)
            first_sentence = len(sentences)
            for ga, gb in group:
                sentences.append(
                    Sentence(
                        index=len(sentences),
                        start=ga,
                        end=gb,
                        text=text[ga:gb],
                        block=block_index,
                        kind=block.kind,
                        passage=passage_index,
                    )
                )
            p_start, p_end = group[0][0], group[-1][1]
            passages.append(
                Passage(
                    index=passage_index,
                    start=p_start,
                    end=p_end,
                    text=text[p_start:p_end],
                    sentences=tuple(range(first_sentence, len(sentences))),
                )
            )
            group = []
    return Segmentation(sentences=tuple(sentences), passages=tuple(passages))
