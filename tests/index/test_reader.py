"""The reader: span decoding, loading the shipped files (and refusing damaged ones), and how the
retriever uses what it reads."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from index.encoder import HashingEncoder
from index.ranker import LinearModel, RankerWeights
from index.reader import (
    ANSWER_FEATURES,
    COMBINED_FEATURES,
    DATA,
    DEFAULT_READER,
    FAST_READER,
    SPAN_FLOOR,
    Reader,
    Reading,
    best_span,
    judge,
    lexical_evidence,
    reader_threads,
)
from index.retriever import IndexedArticle, Retriever, assemble
from index.store import build_faiss
from qa.article import parse_text
from qa.errors import IndexMismatchError
from qa.models import Segmentation
from qa.segment import segment


def test_best_span_maximises_start_plus_end_within_the_allowed_tokens() -> None:
    start = np.array([9.0, 1.0, 5.0, 0.0, 0.0], dtype=np.float32)
    end = np.array([9.0, 0.0, 0.0, 4.0, 1.0], dtype=np.float32)
    allowed = np.array([False, True, True, True, True])
    assert best_span(start, end, allowed) == (2, 3, 9.0)  # token 0 (the question) is not allowed


def test_best_span_never_ends_before_it_starts_nor_runs_too_long() -> None:
    start = np.array([0.0, 0.0, 8.0], dtype=np.float32)
    end = np.array([8.0, 0.0, 1.0], dtype=np.float32)  # (2, 0) would score 16
    allowed = np.ones(3, dtype=np.bool_)
    assert best_span(start, end, allowed)[:2] == (2, 2)  # type: ignore[index]
    wide = np.zeros(40, dtype=np.float32)
    wide_start, wide_end = wide.copy(), wide.copy()
    wide_start[0], wide_end[39] = 5.0, 5.0
    first, last, _ = best_span(wide_start, wide_end, np.ones(40, dtype=np.bool_), longest=30)  # type: ignore[misc]
    assert last - first < 30


def test_best_span_of_nothing_readable_is_none() -> None:
    empty = np.zeros(3, dtype=np.float32)
    assert best_span(empty, empty, np.zeros(3, dtype=np.bool_)) is None


def copy_shipped(tmp_path: Path) -> Path:
    config = json.loads(DEFAULT_READER.read_text(encoding="utf-8"))
    shutil.copy(DEFAULT_READER, tmp_path / DEFAULT_READER.name)
    shutil.copy(DEFAULT_READER.parent / config["model"], tmp_path / config["model"])
    return tmp_path / DEFAULT_READER.name


def test_a_missing_reader_is_refused_with_the_command_that_rebuilds_it(tmp_path: Path) -> None:
    with pytest.raises(IndexMismatchError, match=r"python -m train\.reader`"):
        Reader(tmp_path / "reader.json")


def test_a_damaged_model_file_is_refused(tmp_path: Path) -> None:
    config = copy_shipped(tmp_path)
    model = tmp_path / json.loads(config.read_text())["model"]
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(IndexMismatchError, match="sha256"):
        Reader(config)


def test_a_reader_file_of_another_format_is_refused(tmp_path: Path) -> None:
    config = copy_shipped(tmp_path)
    data = json.loads(config.read_text())
    data["format_version"] = 99
    config.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="format version"):
        Reader(config)


def test_an_answerability_model_for_other_features_is_refused_with_the_refit_command(
    tmp_path: Path,
) -> None:
    config = copy_shipped(tmp_path)
    data = json.loads(config.read_text())
    data["answerability"]["weights"] = {"other": {"coef": 1.0, "mean": 0.0, "scale": 1.0}}
    config.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match=r"train\.reader\.answerability"):
        Reader(config)
    # Refitting it needs the rest of the file: loaded with a neutral answerability model.
    reader = Reader(config, answerability=False)
    assert reader.probability(np.ones(len(ANSWER_FEATURES), np.float32)) == 0.5


@pytest.mark.parametrize("config", [DEFAULT_READER, FAST_READER], ids=lambda p: p.name)
def test_the_shipped_answerability_model_reads_every_answer_feature(config: Path) -> None:
    data = json.loads(config.read_text())
    assert tuple(data["answerability"]["weights"]) == ANSWER_FEATURES
    assert 0.0 < data["threshold"] < 1.0
    # Fitted by the answerability command (named bench.fit_answerability until it moved to train/).
    command = data["provenance"]["answerability"]["command"]
    assert command.startswith(("python -m train.reader.answerability", "python -m bench.fit_"))


def test_the_shipped_readers_are_six_layers_reading_two_sentences_and_three_reading_one() -> None:
    """reader.json (CPUs with int8 dot products) reads two sentences with all six layers;
    reader-fast.json (AVX2 alone, where int8 is slower) the best one with three: two models."""
    full, fast = (json.loads(p.read_text()) for p in (DEFAULT_READER, FAST_READER))
    assert (full["layers"], full["candidates"]) == (6, 2)
    assert (fast["layers"], fast["candidates"]) == (3, 1)
    assert full["model"] != fast["model"]
    assert full["answerability"] != fast["answerability"]  # each fitted on what it reads
    shipped = [f for f in DATA.iterdir() if f.suffix in {".onnx", ".safetensors"}]
    assert {full["model"], fast["model"]} <= {f.name for f in shipped}
    # The readers and encoder: 62 MB (an earlier issue's aim: about 60 MB); since the sixteenth
    # session, with the article side's three-layer student (10.7 MB), 73 MB.
    assert sum(f.stat().st_size for f in shipped) < 75_000_000


def test_the_reader_reads_on_two_threads_where_int8_products_are_slow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import index.onnx_encoder

    for flags, expected in [
        ({"avx2", "fma"}, 2),  # AVX2 alone: int8 products ~2.8x slower
        ({"avx2", "avx512f", "avx512_vnni"}, 1),
        ({"avx2", "avx_vnni"}, 1),
        ({"avx512f", "amx_int8", "amx_tile"}, 1),
        (set(), 2),  # unknown (not Linux)
    ]:
        monkeypatch.setattr(index.onnx_encoder, "cpu_flags", lambda f=flags: frozenset(f))
        assert reader_threads() == expected


def test_with_answerability_changes_only_the_copy() -> None:
    reader = StubReader()
    n = len(ANSWER_FEATURES)
    other = reader.with_answerability(
        LinearModel(ANSWER_FEATURES, np.zeros(n), np.ones(n), np.zeros(n), 3.0), 0.9
    )
    assert (other.threshold, reader.threshold) == (0.9, 0.5)
    row = np.zeros(n, np.float32)
    assert other.probability(row) > 0.95
    assert reader.probability(row) == 0.5
    assert other.combined is reader.combined


def test_lexical_evidence_counts_question_words_names_and_wanted_answer_kinds() -> None:
    overlap, missing, type_missing, negated = lexical_evidence(
        "When did Glas reach the Mexican embassy in Quito?",
        "Glas reached the embassy in Quito in December.",
    )
    # stemmed words when, did, glas, reach, mexican, embassi, quito (BM25's short stop list)
    assert overlap == pytest.approx(4 / 7)
    assert missing == pytest.approx(1 / 3)  # glas, mexican, quito: "mexican" is absent
    assert type_missing == 0.0  # a date is wanted and there is one
    assert negated == 0.0
    assert lexical_evidence("When did it open?", "It opened downtown.")[2] == 1.0
    assert lexical_evidence("What opened?", "The library opened.")[1:] == (0.0, 0.0, 0.0)
    assert lexical_evidence("Who didn't vote?", "Ann voted.")[3] == 1.0
    assert lexical_evidence("What was never built?", "A wall.")[3] == 1.0
    assert lexical_evidence("What is Nottingham known for?", "Lace.")[3] == 0.0


def test_judge_gives_the_answer_row_of_the_best_combined_sentence() -> None:
    reader = StubReader()
    reading = Reading(
        np.array([-5.0, 5.0], np.float32),
        np.array([1.0, 7.0], np.float32),
        ((0, 3), (4, 11)),
        np.array([-3.0, -0.5], np.float32),
    )
    sentences = ["The council met.", "The library opens in spring."]
    scores, order, row = judge(
        reader.combined, np.zeros(2), reading, 0.25, "When does the library open?", sentences
    )
    assert list(order) == [1, 0]
    assert row.shape == (len(ANSWER_FEATURES),)
    values = dict(zip(ANSWER_FEATURES, row.tolist(), strict=True))
    assert values["top_relevance"] == 5.0
    assert values["top_span"] == 7.0
    assert values["span_logprob"] == -0.5
    assert values["first_confidence"] == 0.25
    assert values["top_combined"] == pytest.approx(scores[1])
    assert values["overlap"] == pytest.approx(2 / 4)  # librari, open of when, doe, librari, open
    assert values["missing_names"] == 0.0
    assert values["type_missing"] == 1.0  # a date is wanted; the patterns know no seasons
    without = Reading(reading.relevance, reading.span_score, reading.spans)
    assert judge(reader.combined, np.zeros(2), without, 0.0, "Q?", sentences)[2][4] == SPAN_FLOOR


@pytest.mark.model
def test_the_shipped_reader_finds_the_answer_words() -> None:
    reader = Reader()
    sentence = (
        "Glas has been staying at the Mexican embassy in Quito since December, when he "
        "sought refuge there."
    )
    reading = reader.read("Since when has Glas been in the embassy?", [sentence, "It rained."])
    assert reading.relevance[0] > reading.relevance[1]
    span = reading.spans[0]
    assert span is not None
    assert "December" in sentence[span[0] : span[1]]


@pytest.mark.model
def test_a_count_question_answered_with_no_count_is_declined(tmp_path: Path) -> None:
    """The reader finds the sentence on the subject, but its words hold no number of staff."""
    from index.library import Library

    text = (
        "The city library will open a new branch downtown next spring, officials said on "
        "Monday.\n\nBananas are yellow and grow in bunches."
    )
    library = Library(tmp_path, HashingEncoder(), RankerWeights.blend(), reader=Reader())
    article = library.ingest(text, title="Library")
    when = library.ask("When will the library open its new branch downtown?", article.id, 3)
    assert when.answerable
    assert when.citations[0].answer_span is not None
    assert "spring" in when.citations[0].answer_span.text
    staff = library.ask("How many staff will the new library branch downtown have?", article.id, 3)
    assert staff.confidence >= library.threshold  # confident about the sentence, yet
    assert not staff.answerable  # its words cannot say how many
    assert staff.citations[0].quote.text.startswith("The city library")


class StubReader(Reader):
    """Prefers the sentence that mentions a library, and answers with its last word."""

    def __init__(self) -> None:
        self.combined = LinearModel(
            COMBINED_FEATURES, np.zeros(2), np.ones(2), np.array([0.0, 1.0]), 0.0
        )
        n = len(ANSWER_FEATURES)
        self.answer = LinearModel(ANSWER_FEATURES, np.zeros(n), np.ones(n), np.eye(n)[1], 0.0)
        self.threshold = 0.5
        self.candidates = 3
        self.file = Path("stub.json")
        self.provenance = {}
        self.read_counts: list[int] = []

    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        self.read_counts.append(len(sentences))
        relevance = np.array([5.0 if "library" in s else -5.0 for s in sentences], np.float32)
        spans = tuple((s.rindex(" ") + 1, len(s) - 1) for s in sentences)
        return Reading(relevance, np.zeros(len(sentences), np.float32), spans)


def _indexed(text: str, encoder: HashingEncoder) -> tuple[Segmentation, IndexedArticle]:
    article = parse_text(text)
    segmentation = segment(article)
    embedding = encoder.encode_documents([s.text for s in segmentation.sentences])
    indexed = assemble(
        "a", article, segmentation, build_faiss(embedding.vectors), embedding.tokens, ""
    )
    return segmentation, indexed


def test_the_retriever_reorders_by_the_reader_and_places_spans_in_the_article() -> None:
    text = (
        "The council met on Monday about taxes and the budget.\n\n"
        "Residents asked about taxes, the budget and the new library.\n\n"
        "The library opens downtown next spring.\n\n"
        "Officials said little else about taxes."
    )
    encoder = HashingEncoder()
    segmentation, indexed = _indexed(text, encoder)
    reader = StubReader()
    ranking = Retriever(encoder, RankerWeights.blend(), reader).rank(indexed, "taxes budget")
    assert reader.read_counts == [3]
    first = segmentation.sentences[ranking.hits[0].sentence]
    assert "library" in first.text
    span = ranking.hits[0].span
    assert span is not None
    assert first.start <= span[0] < span[1] <= first.end
    assert text[span[0] : span[1]] in {"library", "spring"}
    assert ranking.confidence > 0.99  # the stub's answerability follows the best relevance
    assert ranking.evidence is not None  # the row behind it, as fitting reads it
    assert ranking.evidence.shape == (len(ANSWER_FEATURES),)
    assert reader.probability(ranking.evidence) == ranking.confidence
    assert len(ranking.hits) == 4
    assert ranking.hits[-1].span is None  # not read
    assert ranking.hits[-1].score <= min(h.score for h in ranking.hits[:3])


def test_a_reader_of_one_sentence_reads_the_first_stages_best_for_its_span() -> None:
    text = (
        "The council met on Monday about taxes and the budget.\n\n"
        "The library opens downtown next spring."
    )
    encoder = HashingEncoder()
    _, indexed = _indexed(text, encoder)
    reader = StubReader()
    reader.candidates = 1
    weights = RankerWeights.blend()
    first = Retriever(encoder, weights).rank(indexed, "taxes budget")
    ranking = Retriever(encoder, weights, reader).rank(indexed, "taxes budget")
    assert reader.read_counts == [1]
    assert [h.sentence for h in ranking.hits] == [h.sentence for h in first.hits]
    assert ranking.hits[0].span is not None
    assert all(h.span is None for h in ranking.hits[1:])
