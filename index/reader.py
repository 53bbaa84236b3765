"""The reader: a small cross-encoder that reads the question with each of the best sentences.

An int8 ONNX model (MiniLM's layers, fine-tuned on ``../shared/data/train`` and the shared SQuAD dev
half by ``python -m train.reader``) reads ``[CLS] question [SEP] sentence [SEP]`` and gives,
per sentence, a relevance logit (does this sentence answer the question?) and start/end logits over
its tokens (which words are the answer). The first stage's best few sentences are read in one batch;
``reader.json`` names the model (all six layers) and says how many it reads (two), how the relevance
is combined with the first-stage score, and holds the answerability model over the question's best
scores and its threshold. It is served on every CPU, so answers do not depend on the machine;
``reader-fast.json`` is the same for a smaller model (three layers) reading only the best
sentence, an option (``ARTICLE_QA_READER_WEIGHTS``) for more throughput on CPUs without int8
dot products, where the six layers cost about twice as much.
The answerability model is fitted by ``python -m train.reader.answerability`` (on the shared SQuAD
dev half, SQuAD v2.0's adversarial unanswerable questions and constructed ones, and the reader's
held-out training questions); ``python -m bench.quality`` fits it the same way per fold.

Runs on ONNX Runtime with the MiniLM tokenizer: no PyTorch, no transformers.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from index.lexical import tokenize
from index.ranker import LinearModel
from qa.answertype import AnswerType, names, question_types, sentence_types
from qa.errors import IndexMismatchError

FORMAT_VERSION = 1
DATA = Path(__file__).resolve().parent / "data"
DEFAULT_READER = DATA / "reader.json"  # six layers reading the first stage's best two sentences
FAST_READER = DATA / "reader-fast.json"  # three layers reading only the best one (an option)
RETRAIN = "python -m train.reader"
REFIT = "python -m train.reader.answerability"
# The combination of first-stage and reader scores, and the answerability model's inputs.
COMBINED_FEATURES = ("first", "relevance")
# (The combined score's gap to the second sentence was one too: fitted with the features below it
# took a negative weight, and without it bench.quality abstains as much.)
ANSWER_FEATURES = (
    "top_combined", "top_relevance", "top_span", "first_confidence",
    "span_logprob", "overlap", "missing_names", "type_missing", "negated",
)  # fmt: skip
# The longest answer span, in tokens. Chosen for the shipped reader on its held-out SQuAD-Shifts
# questions (end to end through the library; never SQuAD dev): span F1 by this limit 8: 0.656,
# 12: 0.668, 16: 0.670, 20: 0.671, 24: 0.670, 30: 0.668. Longer news answers ("allowed China to
# extradite accused criminals from Hong Kong") gain most: bench.news F1 0.485 -> 0.508 at 20.
MAX_ANSWER_TOKENS = 20
SPAN_FLOOR = -20.0  # span score of a sentence with no readable token


@dataclass(frozen=True, slots=True)
class Reading:
    """What the reader found in each sentence read (arrays in the order read)."""

    relevance: npt.NDArray[np.float32]  # logit that the sentence answers the question
    span_score: npt.NDArray[np.float32]  # best start + end logit inside the sentence
    spans: tuple[tuple[int, int] | None, ...]  # answer's [start, end) in the sentence's text
    # log P(start) + log P(end) of that span, softmax over the sentence's tokens: how sure the
    # reader is of where the answer lies (0 when certain). None: not computed (SPAN_FLOOR).
    span_logprob: npt.NDArray[np.float32] | None = None


def reader_threads() -> int:
    """The reader's math threads by default: two where the CPU lacks int8 dot products (they
    read its two sentences about 1.5 times faster than one on a two-core AVX2 CPU, where one
    would miss the 40 ms budget), else one (fast enough, and more questions at once)."""
    from index.onnx_encoder import int8_dot_available

    return 1 if int8_dot_available() else 2


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def best_span(
    start: npt.NDArray[np.float32],
    end: npt.NDArray[np.float32],
    allowed: npt.NDArray[np.bool_],
    longest: int = MAX_ANSWER_TOKENS,
) -> tuple[int, int, float] | None:
    """The token pair (s, e), s <= e < s + longest, both ``allowed``, maximising start + end."""
    tokens = np.flatnonzero(allowed)
    if tokens.size == 0:
        return None
    s, e = start[tokens], end[tokens]
    total = s[:, None] + e[None, :]
    gap = tokens[None, :] - tokens[:, None]
    total = np.where((gap >= 0) & (gap < longest), total, -np.inf)
    i, j = np.unravel_index(int(np.argmax(total)), total.shape)
    return int(tokens[i]), int(tokens[j]), float(total[i, j])


def _logsumexp(logits: npt.NDArray[np.float32]) -> float:
    top = float(logits.max())
    return top + math.log(float(np.exp(logits - top).sum()))


_NEGATION = re.compile(
    r"\b(not|never|no|none|nothing|nobody|neither|nor|without|cannot)\b|n't\b", re.IGNORECASE
)


def lexical_evidence(question: str, sentence: str) -> tuple[float, float, float, float]:
    """How the best sentence meets the question in words, cheap enough for every question:
    the share of the question's content words it contains (stemmed, as BM25 counts them), the
    share of the question's names it lacks (SQuAD v2.0's unanswerable questions often swap in a
    name the text does not have), whether the question wants a date, number or cause and the
    sentence has none (1.0) or not (0.0), and whether the question is negated ("Who did not
    ...?", 1.0): 3% of SQuAD's answerable questions and 14-18% of its unanswerable ones are, an
    artefact of how those were written that the answerability model learns from."""
    asked = set(tokenize([question])[0])
    overlap = len(asked & set(tokenize([sentence])[0])) / len(asked) if asked else 0.0
    wanted_names = names(question)
    lowered = sentence.lower()
    missing = (
        sum(name not in lowered for name in wanted_names) / len(wanted_names)
        if wanted_names
        else 0.0
    )
    wants = question_types(question) - {AnswerType.NAME}
    type_missing = float(bool(wants) and not wants & sentence_types(sentence))
    return overlap, missing, type_missing, float(bool(_NEGATION.search(question)))


def judge(
    combined: LinearModel,
    first: npt.NDArray[np.float64],
    reading: Reading,
    first_confidence: float,
    question: str,
    sentences: Sequence[str],
    prior: npt.NDArray[np.float64] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """The read sentences' combined scores, their order (best first) and the question's
    ANSWER_FEATURES row: one function for serving and for fitting, so both see the same numbers.

    ``first`` is the first stage's log-odds of the sentences read, ``first_confidence`` its
    answerability log-odds for the question, ``sentences`` the search texts of the sentences
    read (``qa.article.search_text``: the sentence itself, or for a byline the line with what it
    is), which the lexical evidence is counted on. ``prior``: log-odds added to the combined
    scores (a conversation's flow, ``index.retriever.flow``; None for a question on its own).
    """
    scores = combined.score(np.column_stack([first, reading.relevance]).astype(np.float32))
    if prior is not None:
        scores = scores + prior
    order = np.argsort(-scores, kind="stable")
    top = int(order[0])
    logprob = SPAN_FLOOR if reading.span_logprob is None else float(reading.span_logprob[top])
    row = np.array(
        [
            scores[top],
            reading.relevance.max(),
            reading.span_score[top],
            first_confidence,
            logprob,
            *lexical_evidence(question, sentences[top]),
        ],
        dtype=np.float32,
    )
    return scores, order, row


class ReaderSession:
    """The reader model on ONNX Runtime with MiniLM's tokenizer: reads (question, sentence)
    pairs."""

    def __init__(self, model: Path, max_tokens: int, threads: int = 1) -> None:
        from tokenizers import Tokenizer

        from index.encoder import BUNDLED_MODEL, resolve_model_path
        from index.onnx_encoder import cpu_session

        self._session = cpu_session(model, threads)
        tokenizer = Tokenizer.from_file(str(resolve_model_path(BUNDLED_MODEL) / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_tokens, strategy="longest_first")
        self._tokenizer = tokenizer
        self.longest = MAX_ANSWER_TOKENS  # the answer span's most tokens (bench.spans varies it)

    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        """Read the question with every sentence in one batch."""
        if not sentences:
            empty = np.zeros(0, dtype=np.float32)
            return Reading(empty, empty, ())
        encodings = self._tokenizer.encode_batch([(question, s) for s in sentences])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask, types = np.zeros_like(ids), np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n], types[row, :n], mask[row, :n] = encoding.ids, encoding.type_ids, 1
        relevance, start, end = self._session.run(
            ["relevance", "start", "end"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
        )
        span_scores: list[float] = []
        logprobs: list[float] = []
        spans: list[tuple[int, int] | None] = []
        for row, encoding in enumerate(encodings):
            allowed = np.array(
                [
                    seq == 1 and b > a
                    for seq, (a, b) in zip(encoding.sequence_ids, encoding.offsets, strict=True)
                ],
                dtype=np.bool_,
            )
            starts, ends = start[row, : len(allowed)], end[row, : len(allowed)]
            found = best_span(starts, ends, allowed, self.longest)
            if found is None:
                span_scores.append(SPAN_FLOOR)
                logprobs.append(SPAN_FLOOR)
                spans.append(None)
                continue
            first, last, score = found
            span_scores.append(max(score, SPAN_FLOOR))
            logprob = score - _logsumexp(starts[allowed]) - _logsumexp(ends[allowed])
            logprobs.append(max(logprob, SPAN_FLOOR))
            spans.append((encoding.offsets[first][0], encoding.offsets[last][1]))
        return Reading(
            np.asarray(relevance, dtype=np.float32).reshape(-1),
            np.asarray(span_scores, dtype=np.float32),
            tuple(spans),
            np.asarray(logprobs, dtype=np.float32),
        )


class Reader(ReaderSession):
    """The shipped reader model with its combination and answerability weights."""

    def __init__(
        self, config: Path | None = None, threads: int = 1, *, answerability: bool = True
    ) -> None:
        """Load and check ``config`` (None: ``DEFAULT_READER``) and its model.
        ``answerability=False`` skips the answerability model (a neutral one stands in), for
        refitting it when its features changed (``REFIT``)."""
        config = DEFAULT_READER if config is None else config
        self.file = config
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"not a reader file of format version {FORMAT_VERSION}")
            model = config.parent / str(data["model"])
            if sha256(model) != data["sha256"]:
                raise ValueError(f"{model.name} does not match its sha256 (damaged or replaced)")
            self.combined = LinearModel.from_json(data["combined"], COMBINED_FEATURES)
            n = len(ANSWER_FEATURES)
            self.answer = LinearModel(ANSWER_FEATURES, np.zeros(n), np.ones(n), np.zeros(n), 0.0)
            if answerability:
                try:
                    self.answer = LinearModel.from_json(data["answerability"], ANSWER_FEATURES)
                except IndexMismatchError as exc:
                    raise ValueError(
                        f"its answerability model is for other features; refit it with `{REFIT}`"
                    ) from exc
            self.threshold = float(data["threshold"])
            self.candidates = int(data["candidates"])
            max_tokens = int(data["max_tokens"])
            self.provenance: dict[str, Any] = dict(data.get("provenance", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexMismatchError(
                f"reader model {config} is unusable ({exc}); rebuild it with `{RETRAIN}` "
                "or restore index/data from git"
            ) from exc
        super().__init__(model, max_tokens, threads)

    def with_answerability(self, answer: LinearModel, threshold: float) -> Reader:
        """The same reader (sharing its session) with another answerability model and
        threshold: what bench.quality scores each fold with."""
        other = copy.copy(self)
        other.answer, other.threshold = answer, threshold
        return other

    def probability(self, row: npt.NDArray[np.float32]) -> float:
        """Calibrated probability that the article answers the question."""
        z = float(self.answer.score(row[None, :])[0])
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
