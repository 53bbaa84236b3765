"""The reader's training pieces that decide what it learns: answer-token labels, batches, and the
span metric (SQuAD's normalisation)."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from bench.reader_data import Pair
from bench.squad import normalize_answer, span_scores
from bench.train_reader import MAX_TOKENS, batches, encode_pairs
from index.encoder import DEFAULT_MODEL, resolve_model_path


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(resolve_model_path(DEFAULT_MODEL) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
    return tokenizer


def test_answer_labels_are_the_first_and_last_token_of_the_answer(tokenizer: Tokenizer) -> None:
    sentence = "Glas has stayed in the Mexican embassy since December last year."
    start = sentence.index("since December")
    pair = Pair("How long?", sentence, True, (start, start + len("since December")), "t")
    ((ids, types, first, last),) = encode_pairs(tokenizer, [pair])
    encoding = tokenizer.encode("How long?", sentence)
    assert ids == encoding.ids
    assert types[first] == types[last] == 1  # inside the sentence, never the question
    assert sentence[encoding.offsets[first][0] : encoding.offsets[last][1]] == "since December"


def test_negatives_and_truncated_answers_have_no_span_label(tokenizer: Tokenizer) -> None:
    long = " ".join(["word"] * 300) + " the answer"
    cut = Pair("What?", long, True, (len(long) - 10, len(long)), "t")
    negative = Pair("What?", "Nothing here.", False, None, "t")
    encoded = encode_pairs(tokenizer, [cut, negative])
    assert [(e[2], e[3]) for e in encoded] == [(-100, -100), (-100, -100)]
    assert len(encoded[0][0]) == MAX_TOKENS


def test_batches_cover_every_pair_once_in_a_seeded_order() -> None:
    lengths = [5, 40, 7, 33, 12, 9, 50, 3, 21, 18]
    plan = batches(lengths, 3, seed=1)
    assert sorted(i for batch in plan for i in batch) == list(range(10))
    assert plan == batches(lengths, 3, seed=1)
    assert plan != batches(lengths, 3, seed=2)


def test_span_metric_uses_squads_normalisation() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert span_scores("the Denver Broncos", ["Denver Broncos"]) == (1.0, 1.0)
    exact, f1 = span_scores("Denver", ["Denver Broncos", "Broncos"])
    assert exact == 0.0
    assert f1 == pytest.approx(2 / 3)
    assert span_scores(None, ["Denver"]) == (0.0, 0.0)
