"""What kind of answer a question wants, and what kinds of answer a sentence can give.

"When ...?" wants a date, "How many ...?" a number, "Who ...?" a name; a sentence that holds none
of the wanted kind rarely answers, however many words it shares with the question. Patterns, not
a tagger: they cost microseconds and need no model.
"""

from __future__ import annotations

import re
from enum import StrEnum


class AnswerType(StrEnum):
    DATE = "date"
    NUMBER = "number"
    NAME = "name"  # a person, organisation or place: a capitalised word the question lacks
    CAUSE = "cause"


_QUESTION_PATTERNS = {
    AnswerType.DATE: r"\b(when|what (year|date|day|month|century|decade|time|period|era)|which "
    r"(year|date|day|month|century|decade))\b",
    AnswerType.NUMBER: r"\b(how (many|much|long|far|old|large|big|high|tall|fast|often)|what "
    r"(percentage|percent|number|amount|size|proportion|fraction))\b",
    AnswerType.NAME: r"\b(who|whom|whose|where|what (country|city|state|company|organi[sz]ation|"
    r"team|group|party|place|region|nation)|which (country|city|state|company|team|group|party|"
    r"person|man|woman|place|region|nation))\b",
    AnswerType.CAUSE: r"\b(why|what (caused|led to|reason))\b",
}
_QUESTION = {kind: re.compile(p, re.IGNORECASE) for kind, p in _QUESTION_PATTERNS.items()}
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion|dozen|half|twice|thrice)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(1\d{3}|20\d{2})s?\b|\b(January|February|March|April|May|June|July|August|September|"
    r"October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|"
    r"century|centuries|decade|BC|AD|BCE|CE|yesterday|today|tomorrow|ago)\b"
)
_CAUSE = re.compile(
    r"\b(because|due to|owing to|since|so that|in order to|as a result|result(ed|s)? in|led to|"
    r"caus(e|ed|es|ing)|reason|thanks to)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*")


def question_types(question: str) -> frozenset[AnswerType]:
    """The kinds of answer a question asks for (empty for "what ...?" and yes/no questions)."""
    return frozenset(kind for kind, pattern in _QUESTION.items() if pattern.search(question))


def names(text: str) -> frozenset[str]:
    """Lower-cased capitalised words, skipping a sentence's first word (capitalised anyway)."""
    found = _CAPITALISED.findall(text)
    if found and text.lstrip().startswith(found[0]):
        found = found[1:]
    return frozenset(word.lower() for word in found)


def sentence_types(sentence: str) -> frozenset[AnswerType]:
    """The kinds of answer a sentence can give; NAME depends on the question's own names."""
    kinds = set()
    if _NUMBER.search(sentence):
        kinds.add(AnswerType.NUMBER)
    if _DATE.search(sentence):
        kinds.add(AnswerType.DATE)
    if _CAUSE.search(sentence):
        kinds.add(AnswerType.CAUSE)
    return frozenset(kinds)
