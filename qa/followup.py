"""Follow-up questions made self-contained before retrieval, without an LLM.

"How long has he been in the embassy?" retrieves nothing useful on its own: "he" names no one. The
API only knows the reader's earlier questions, so a follow-up is resolved from them:

- an elliptical question leaves out its predicate ("Why?", "And the Broncos?", "What about
  Lula?", "By what margin?"), so it gets the previous question's content words (without the
  previous names when it brings its own: "And the Broncos?" replaces "the Panthers");
- a question with an anaphor ("he", "its", "that decision", "there", "the same") gets only the
  previous question's names, never its predicate words: those pull retrieval back to the sentence
  that already answered the previous question. A single name replaces a pronoun ("What did
  Ecuador refuse to give him?" -> "... give Glas?"); several are appended;
- anything else is returned unchanged, so a question that stands on its own is never dragged
  towards the previous topic.

After a question that asked for a name ("Who was granted asylum by Mexico?"), "he" means the
*answer* (Glas), which no question contains; the question's own names ("Mexico") would only steer
retrieval towards the other participants (measured: "granted asylum Mexico" turns "How long has he
been in the embassy?" into a citation of the asylum sentence). Such a follow-up is left unchanged
unless the caller passes ``answer_of``, which recomputes an earlier answer: then the name in it
that the earlier question asked for replaces the pronoun ("How long has Glas been...?").

The previous question is itself resolved first (recursively, over the last few turns only), so a
referent carries through a chain of follow-ups. Pure functions of strings: no index, model or I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

# Only the last few questions can matter to a follow-up; older ones are never looked at, so a
# long history costs nothing.
MAX_LOOKBACK = 4
# Carried words are capped so that context never outweighs the reader's own question.
MAX_CARRIED_TERMS = 6


@dataclass(frozen=True, slots=True)
class Answered:
    """An earlier answer as the product gave it: the sentence it cited first and, when the reader
    found them, the answer's words in it."""

    sentence: str
    words: str | None = None


# (position of the earlier question in ``history``, that question resolved) -> its answer, or
# None when the product declined it.
AnswerOf = Callable[[int, str], Answered | None]

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s?$", re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ANIMATE = _words("he she him her his hers himself herself they them their theirs themselves")
_PERSONAL = _ANIMATE | _words("it its itself")
_POSSESSIVE_PRONOUNS = _words("his its their")
_DEMONSTRATIVE = _words("this that these those")
# "this article", "this story": the reader points at the article itself, not at an earlier turn.
_ARTICLE_NOUNS = _words(
    "article story piece report text page post news item document passage author writer "
    "publisher headline title byline"
)
# "this year" is the present, not an earlier turn ("that year" is anaphoric).
_PRESENT_TIME = _words("year week month season morning afternoon evening time moment")
_BE_HAVE = _words("is are was were be been being am has have had will would")
_AUX = _words(
    "is are was were am be been being do does did has have had will would can could shall "
    "should may might must"
)
_TAKE = _words("take takes took taken")
_WH = _words("who whom whose what which when where why how")
# Questions whose answer is a name that a later pronoun may point at.
_ASKS_FOR_NAME = _words("who whom whose which where")
_OPENERS = _words("and also so but then or")
# Words that never carry a topic: function words, the question words, and verbs so generic that
# "What happened?" is as empty as "Why?".
_FUNCTION = (
    _PERSONAL
    | _DEMONSTRATIVE
    | _AUX
    | _WH
    | _words(
        """a an the and or but nor so yet if then than as of at by for from in into on onto to
        with without about above after before against among around between during over under up
        down out off through across per via not no yes any some all both each either neither every
        many much more most few less least other another such same own only just very too also
        even still again there here now ever else exactly really anything something nothing
        everything i me my mine we us our ours you your yours one ones s t since until while
        because although though unless whether once whereas
        happen happens happened happening do doing done say says said tell told know knew mean
        means meant think get got go goes went gone"""
    )
)
# Lower-case words that may sit inside a name: "Luiz Inácio Lula da Silva", "Bank of America".
_NAME_JOINERS = _words("of de da del della di do dos van von der la le bin al")
# Titles in front of a name: "Ecuadorean Vice President Jorge Glas" is referred to as "Glas".
_TITLES = _words(
    """president vice minister prime secretary senator governor mayor king queen prince princess
    chancellor commissioner director chairman general judge pope mr mrs ms dr sir lord lady
    ambassador"""
)
# "Which candidate ...?" asks for a person as surely as "Who ...?" does.
_PERSON_NOUNS = _TITLES | _words(
    """candidate person man woman leader politician official author writer journalist reporter
    player coach actor actress singer founder owner member winner officer spokesman spokeswoman"""
)
_DATES = _words(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday"""
)
# Endings of nationality adjectives ("British rock group", "Ecuadorean presidential candidate"):
# such a word in front of a lower-case word modifies it and is not itself the answer.
_DEMONYM_ENDINGS = ("an", "ish", "ese", "ch", "i")


@dataclass(frozen=True, slots=True)
class _Token:
    raw: str  # as written
    text: str  # possessive removed ("Mexico's" -> "Mexico")
    lower: str
    start: int  # [start, end) of the word as written, possessive included
    end: int


@dataclass(frozen=True, slots=True)
class _Resolved:
    query: str
    focus: str | None  # the name the conversation is about, when one is known


def _tokens(text: str) -> list[_Token]:
    """Words of a question or sentence; possessives stripped so "Mexico's" matches "Mexico"."""
    found = []
    for match in _TOKEN.finditer(text):
        word = _POSSESSIVE.sub("", match.group()) or match.group()
        found.append(_Token(match.group(), word, word.lower(), match.start(), match.end()))
    return found


def _is_content(token: _Token) -> bool:
    return token.lower not in _FUNCTION and (len(token.lower) > 1 or token.lower.isdigit())


def _is_name_word(token: _Token, first: bool) -> bool:
    """A capitalised word or a number: part of a name, a date or a figure.

    The first word of a sentence is capitalised anyway, so there it counts only when it is not a
    function word ("Mexico has..." yes, "The game..." no).
    """
    if token.lower in _FUNCTION and not (token.text.isupper() and len(token.text) > 1):
        return False
    if any(c.isdigit() for c in token.text):
        return True
    return token.text[:1].isupper() and (not first or token.lower not in _FUNCTION)


def _names(tokens: Sequence[_Token], text: str) -> list[list[_Token]]:
    """Runs of name words ("Jorge Glas", "August 2023", "Super Bowl 50"), in order.

    Punctuation ends a run: "In week 10, Manning" is two runs.
    """
    runs: list[list[_Token]] = []
    current: list[_Token] = []
    for i, token in enumerate(tokens):
        joined = not current or not text[current[-1].end : token.start].strip()
        if current and not joined:
            runs.append(current)
            current = []
        if _is_name_word(token, first=i == 0) or (
            current
            and token.lower in _NAME_JOINERS
            and i + 1 < len(tokens)
            and _is_name_word(tokens[i + 1], first=False)
        ):
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _spelled(run: Sequence[_Token]) -> list[str]:
    """A name's words as written, without a final possessive: "Levi's Stadium", "Mexico"."""
    return [t.raw for t in run[:-1]] + [run[-1].text]


def _anaphor(tokens: Sequence[_Token]) -> int | None:
    """Index of the first word that points back at an earlier turn, or None.

    Pronouns and demonstratives are anaphoric except in the uses that point elsewhere: "this
    article", "this year", dummy "it takes", existential "is there", and "that" as a relative
    pronoun or conjunction (after a content word, with more words to come).
    """
    words = [t.lower for t in tokens]
    for i, word in enumerate(words):
        before = words[i - 1] if i > 0 else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        if word in _PERSONAL:
            # Dummy "it": "How long did it take...", "Is it true that...".
            if word == "it" and (after in _TAKE or "that" in words[i + 1 : i + 4]):
                continue
            return i
        if word in _DEMONSTRATIVE:
            if after in _ARTICLE_NOUNS or (word in {"this", "these"} and after in _PRESENT_TIME):
                continue
            if (word == "those" and after == "who") or (
                word == "that" and after and before and before not in _FUNCTION
            ):
                continue
            return i
        if word == "there":
            if after in _BE_HAVE or (before in _AUX and i <= 2):
                continue
            return i
        if word == "then" and i > 0:
            return i
        if word == "same" and before == "the":
            return i - 1
    return None


def _strip_opener(tokens: Sequence[_Token]) -> tuple[list[_Token], bool]:
    """Drop a leading "And"/"So"/...; tell whether what remains is a bare phrase ("And Ecuador?")
    rather than a full question ("And who won the runoff?")."""
    rest = list(tokens)
    if rest and rest[0].lower in _OPENERS:
        rest = rest[1:]
        return rest, not rest or (rest[0].lower not in _WH and rest[0].lower not in _AUX)
    return rest, False


def _elliptical(tokens: Sequence[_Token]) -> bool:
    """A question that leaves out its predicate: "Why?", "And the runoff?", "What about X?"."""
    rest, bare = _strip_opener(tokens)
    if bare:
        return True
    words = [t.lower for t in rest]
    if words[:2] in (["what", "about"], ["how", "about"]) or "else" in words:
        return True
    # "By what margin?", "What was the score?": one content word and no name or pronoun is too
    # little to stand alone, except for questions about the article itself ("Who is the author?").
    content = [t for t in rest if _is_content(t)]
    if not content:
        return bool(rest)
    return (
        len(content) == 1
        and _anaphor(rest) is None
        and not any(_is_name_word(t, first=i == 0) for i, t in enumerate(rest))
        and not any(t.lower in _ARTICLE_NOUNS for t in rest)
    )


def is_followup(question: str) -> bool:
    """Whether a question needs an earlier turn to be understood."""
    tokens = _tokens(question)
    return _anaphor(_strip_opener(tokens)[0]) is not None or _elliptical(tokens)


def _asks_for_name(question: str) -> str | None:
    """The question word of a question whose answer is a name ("who", "which", "where")."""
    for token in _tokens(question):
        if token.lower in _WH:
            return token.lower if token.lower in _ASKS_FOR_NAME else None
    return None


def _asks_for_person(tokens: Sequence[_Token]) -> bool:
    """ "Which candidate", "what leader": a which/what question whose noun is a person."""
    return any(
        t.lower in {"which", "what"} and nxt.lower in _PERSON_NOUNS for t, nxt in pairwise(tokens)
    )


def _is_modifier(run: Sequence[_Token], following: _Token | None, text: str) -> bool:
    """A nationality adjective in front of a lower-case word ("British rock group Coldplay")."""
    return (
        len(run) == 1
        and run[0].lower.endswith(_DEMONYM_ENDINGS)
        and following is not None
        and following.text[:1].islower()
        and not text[run[0].end : following.start].strip()
    )


def _answer_name(question: str, answer: str, span: str | None = None) -> str | None:
    """The name in an answer sentence that the question asked for.

    Where the reader marked the answer's words (``span``) in the sentence, it is a name among
    them; else (or when none of them qualifies), as the sentence was found by the question's
    words, the name nearest to them that the question does not already contain. Not the answer:
    a name sharing a word with the question's names ("Super Bowl XLVII" for "Super Bowl 50"), a
    nationality adjective, an aside in brackets ("(MVP)"), and for "who" a date or a figure. A
    person is referred to by the surname, as news style does after the first mention ("Vice
    President Jorge Glas" -> "Glas"); other names lose a leading title only.
    """
    wh = _asks_for_name(question)
    question_tokens = _tokens(question)
    asked = {t.lower[:5] for t in question_tokens if _is_content(t)}
    named = {t.lower for run in _names(question_tokens, question) for t in run}
    tokens = _tokens(answer)
    matched = [i for i, t in enumerate(tokens) if _is_content(t) and t.lower[:5] in asked]
    if wh is None or not matched:
        return None
    person = wh in {"who", "whom", "whose"} or _asks_for_person(question_tokens)
    position = {t.start: i for i, t in enumerate(tokens)}
    marked = answer.find(span) if span else -1
    marked_end = marked + len(span) if span and marked >= 0 else -1
    best: tuple[int, str] | None = None
    for run in _names(tokens, answer):
        first, last = position[run[0].start], position[run[-1].start]
        following = tokens[last + 1] if last + 1 < len(tokens) else None
        if (
            any(t.lower in named for t in run)
            or all(t.lower[:5] in asked or not _is_content(t) for t in run)
            or _is_modifier(run, following, answer)
            or answer[: run[0].start].rstrip().endswith("(")
            or (person and any(t.lower in _DATES or t.text[:1].isdigit() for t in run))
        ):
            continue
        distance = min(min(abs(m - first), abs(m - last)) for m in matched)
        if marked < run[-1].end and run[0].start < marked_end:
            distance = -1  # in the reader's answer: preferred to any nearer name
        if best is None or distance < best[0]:
            words = _spelled(run)
            titled = [i for i, t in enumerate(run) if t.lower in _TITLES]
            if person:
                words = words[-1:]
            elif titled and titled[-1] < len(run) - 1:
                words = words[titled[-1] + 1 :]
            best = (distance, " ".join(words))
    return best[1] if best else None


def _means_answer(previous_question: str, pronoun: _Token) -> bool:
    """Whether a pronoun most likely names the answer to the previous question: a person after
    "who", a place after "where" ("there", "it"), anything after "which"."""
    if is_followup(previous_question):
        return False
    wh = _asks_for_name(previous_question)
    if wh == "which":
        return True
    if wh == "where":
        return pronoun.lower not in _ANIMATE
    return wh is not None and pronoun.lower in _ANIMATE


def _modifies_person(text: str, name: str) -> bool:
    """Whether ``name`` stands in ``text`` right before a person noun ("the Texas judge", "the
    Mexican president"): a later "he" is that person, whom the name does not name."""
    tokens = _tokens(text)
    following = {run[-1].end: run for run in _names(tokens, text)}
    for token, after in pairwise(tokens):
        run = following.get(token.end)
        if run is not None and " ".join(_spelled(run)) == name and after.lower in _PERSON_NOUNS:
            return not text[token.end : after.start].strip()
    return False


def _append(question: str, terms: Sequence[str]) -> str:
    return f"{question.rstrip()} {' '.join(terms)}" if terms else question


def _substitute(question: str, pronoun: _Token, following: _Token | None, name: str) -> str:
    """Put a name where a pronoun was: "What was he known for?" -> "What was X known for?",
    "his party" -> "X's party" ("her" is possessive when a content word follows)."""
    possessive = pronoun.lower in _POSSESSIVE_PRONOUNS or (
        pronoun.lower == "her" and following is not None and _is_content(following)
    )
    replacement = f"{name}'s" if possessive else name
    return question[: pronoun.start] + replacement + question[pronoun.end :]


def _carried(previous: str, question: str, *, predicate: bool) -> list[list[str]]:
    """Terms of the previous (resolved) question to add, one list per name or word: its names, and
    with ``predicate`` its other content words too (but not its names when the question brings
    its own: "What about Gonzalez?" replaces the earlier name). Never words the question has."""
    question_tokens = _tokens(question)
    tokens = _tokens(previous)
    runs = _names(tokens, previous)
    run_at = {run[0].start: run for run in runs}
    in_name = {t.start for run in runs for t in run}
    groups: list[list[_Token]]
    if not predicate:
        groups = runs
    elif _names(question_tokens, question):
        groups = [[t] for t in tokens if _is_content(t) and t.start not in in_name]
    else:
        groups = [
            run_at.get(t.start, [t])
            for t in tokens
            if t.start in run_at or (_is_content(t) and t.start not in in_name)
        ]
    seen = {t.lower for t in question_tokens}
    kept: list[list[str]] = []
    count = 0
    for group in groups:
        fresh = [t for t in group if t.lower not in seen]
        if fresh and count + len(fresh) <= MAX_CARRIED_TERMS:
            seen.update(t.lower for t in fresh)
            kept.append(_spelled(fresh))
            count += len(fresh)
    return kept


def resolve(question: str, history: Sequence[str], answer_of: AnswerOf | None = None) -> str:
    """The question to retrieve with: ``question`` itself, or a follow-up expanded with context.

    ``history`` holds the reader's earlier questions, oldest first; only the last
    ``MAX_LOOKBACK`` non-blank ones are read. ``answer_of``, if given, maps an earlier question
    (its position in ``history`` and its resolved text) to the text of the sentence the product
    cited first for it (None when it declined); it is called at most once per looked-at turn,
    and only when a pronoun follows a question that asked for a name.
    """
    recent: list[tuple[int, str]] = []
    for i in range(len(history) - 1, -1, -1):
        if len(recent) == MAX_LOOKBACK:
            break
        if _tokens(history[i]):
            recent.insert(0, (i, history[i]))
    return _resolve(question, recent, answer_of).query


def _resolve(
    question: str, history: list[tuple[int, str]], answer_of: AnswerOf | None
) -> _Resolved:
    tokens = _tokens(question)
    if not history or not tokens:
        return _Resolved(question, None)
    rest = _strip_opener(tokens)[0]
    anaphor = _anaphor(rest)
    elliptical = _elliptical(tokens)
    if anaphor is None and not elliptical:
        return _Resolved(question, None)
    position, previous_question = history[-1]
    previous = _resolve(previous_question, history[:-1], answer_of)
    if anaphor is None or elliptical:
        terms = _carried(previous.query, question, predicate=True)
        return _Resolved(_append(question, [w for g in terms for w in g]), previous.focus)
    pronoun = rest[anaphor]
    following = rest[anaphor + 1] if anaphor + 1 < len(rest) else None
    # A person followed through the conversation stays the referent of "he"/"her"/"their".
    referent = previous.focus if pronoun.lower in _ANIMATE else None
    if referent is None and _means_answer(previous_question, pronoun):
        answer = answer_of(position, previous.query) if answer_of is not None else None
        referent = (
            _answer_name(previous_question, answer.sentence, answer.words) if answer else None
        )
        if referent is None:
            return _Resolved(question, None)
    if referent is None:
        names = _carried(previous.query, question, predicate=False)
        if len(names) != 1:
            return _Resolved(_append(question, [w for g in names for w in g]), None)
        referent = " ".join(names[0])
        if pronoun.lower in _ANIMATE and _modifies_person(previous.query, referent):
            return _Resolved(question, None)
    have = {t.lower for t in tokens}
    if all(t.lower in have for t in _tokens(referent)):
        return _Resolved(question, referent)
    if pronoun.lower in _PERSONAL:
        return _Resolved(_substitute(question, pronoun, following, referent), referent)
    return _Resolved(_append(question, [referent]), referent)
