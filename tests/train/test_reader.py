"""The reader's training pieces that decide what it learns: answer-token labels, batches, the
span metric (SQuAD's normalisation), and which mined questions are kept."""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer

from index.encoder import BUNDLED_MODEL, HashingEncoder, resolve_model_path
from index.features import CONFIDENCE_FEATURES
from index.reader import DATA, FAST_READER
from train.reader.data import Asked, Candidate, Pair, altered
from train.reader.model import MAX_TOKENS, batches, encode_pairs
from train.squad import normalize_answer, span_scores


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(resolve_model_path(BUNDLED_MODEL) / "tokenizer.json"))
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


ARTICLE = ["Mexico", "Jorge", "Glas", "2024", "Ecuador", "Quito", "The", "In", "1998"]


def test_altered_questions_swap_a_shared_name_or_number_for_one_the_sentence_lacks() -> None:
    sentence = "Mexico granted asylum to Jorge Glas in 2024."
    rng = random.Random(0)
    for _ in range(20):
        changed = altered("Why did Mexico grant asylum to Glas in 2024?", sentence, ARTICLE, rng)
        assert changed is not None
        swapped = set(changed.rstrip("?").split()) - set(sentence.rstrip(".").split())
        assert swapped <= {"grant", "Why", "did"} | {"Ecuador", "Quito", "1998"}
        assert swapped & {"Ecuador", "Quito", "1998"}, changed  # never "The" or "In"
    by_number = altered("How many were there in 2024?", sentence, ARTICLE, rng)
    assert by_number == "How many were there in 1998?"  # a number only for a number


def test_altered_questions_are_negated_when_nothing_can_be_swapped() -> None:
    rng = random.Random(0)
    assert (
        altered("what is the capital of the country?", "It is the capital.", ARTICLE, rng)
        == "what is not the capital of the country?"
    )
    assert altered("who is not the capital?", "It is the capital.", ARTICLE, rng) is None
    assert altered("where they live", "They live here.", ARTICLE, rng) is None


def test_span_metric_uses_squads_normalisation() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert span_scores("the Denver Broncos", ["Denver Broncos"]) == (1.0, 1.0)
    exact, f1 = span_scores("Denver", ["Denver Broncos", "Broncos"])
    assert exact == 0.0
    assert f1 == pytest.approx(2 / 3)
    assert span_scores(None, ["Denver"]) == (0.0, 0.0)


def _article(title: str) -> dict[str, object]:
    context = (
        f"{title} is a town on the river. It was founded in 1820 by farmers. "
        "The mayor is Ana Ruiz. Its bridge opened in 1901."
    )
    qas = [
        {"question": "Who is the mayor?", "answers": [{"answer_start": 48, "text": "Ana Ruiz"}]},
        {"question": "When was it founded?", "answers": [{"answer_start": 0, "text": title}]},
    ]
    return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}


def test_held_out_questions_are_ranked_again_when_the_first_stage_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The combination is fitted on the held-out questions' first-stage scores, so those must be
    the shipped first stage's; the training pairs (and so the reader) stay as they were."""
    from train.reader import build as train_reader

    train = tmp_path / "train"
    train.mkdir()
    # "Alpha" and "Eta" fall in the held-out quarter by title, "Beta" and "Gamma" do not.
    rows = [_article(t) for t in ("Alpha", "Beta", "Gamma", "Eta")]
    (train / "new-wiki.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (train / "report.jsonl").write_text(json.dumps(_article("Delta")))
    monkeypatch.setattr(train_reader, "TRAIN_FILES", (("new-wiki.jsonl", "new-wiki"),))
    monkeypatch.setattr(train_reader, "REPORT_FILE", ("report.jsonl", "qed-dev"))
    encoder = HashingEncoder(name="test/first")
    monkeypatch.setattr(train_reader, "real_encoder", lambda _settings: encoder)
    args = train_reader.parse_args(["--train", str(train), "--work", str(tmp_path / "work")])

    pairs, heldout, report = train_reader.mine(args)
    relevant = {p.question for p in pairs if p.relevant}
    assert relevant == {"Who is the mayor?", "When was it founded?"}
    assert heldout and report
    pairs_file = tmp_path / "work" / "pairs.jsonl"
    written = pairs_file.read_bytes()
    assert train_reader.mine(args)[1] == heldout  # cached: the same stage

    def no_mining(*_: object, **__: object) -> None:
        raise AssertionError("mined again")

    monkeypatch.setattr(train_reader, "Miner", no_mining)
    assert train_reader.mine(args)[1] == heldout
    monkeypatch.undo()
    monkeypatch.setattr(train_reader, "TRAIN_FILES", (("new-wiki.jsonl", "new-wiki"),))
    monkeypatch.setattr(train_reader, "REPORT_FILE", ("report.jsonl", "qed-dev"))
    other = HashingEncoder(dim=32, name="test/second")
    monkeypatch.setattr(train_reader, "real_encoder", lambda _settings: other)
    again, heldout_again, _ = train_reader.mine(args)
    assert pairs_file.read_bytes() == written and again == pairs
    assert [a.question for a in heldout_again] == [a.question for a in heldout]
    assert [a.candidates for a in heldout_again] != [a.candidates for a in heldout]  # re-ranked
    assert "test/second" in (tmp_path / "work" / "first-stage.txt").read_text()


def test_a_checkpoint_resumes_only_under_the_plan_it_was_saved_with(tmp_path: Path) -> None:
    import torch

    from train.loop import resume_checkpoint, save_checkpoint

    def parts() -> tuple[Any, Any, Any]:
        model = torch.nn.Linear(3, 1)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
        return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)

    model, optimizer, schedule = parts()
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    schedule.step()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model, optimizer, schedule, step=7, total=10, pairs=40)
    assert not path.with_suffix(".partial").exists()

    fresh = parts()
    assert resume_checkpoint(path, *fresh, "cpu", total=12, pairs=40) is None  # another plan
    assert not torch.equal(fresh[0].weight, model.weight)
    state = resume_checkpoint(path, *fresh, "cpu", total=10, pairs=40)
    assert state is not None and state["step"] == 7
    assert torch.equal(fresh[0].weight, model.weight)
    assert fresh[2].last_epoch == schedule.last_epoch
    assert resume_checkpoint(tmp_path / "none.pt", *parts(), "cpu", total=10) is None


def test_a_run_from_minilm_keeps_learning_curve_snapshots_and_a_fine_tuning_does_not(
    tmp_path: Path,
) -> None:
    from train.reader.model import CURVE, train

    pairs = [
        Pair(f"Who is mayor number {n}?", "The mayor is Ana Ruiz.", n % 2 == 0, None, "new-wiki")
        for n in range(8 * 32)
    ]  # 8 batches: snapshots after steps 2 and 4
    args = argparse.Namespace(threads=1, seed=13, epochs=1.0, layers=1, work=tmp_path / "a")
    args.work.mkdir()
    model = train(args, pairs)
    assert sorted(p.name for p in args.work.glob("curve-*")) == [
        f"curve-1l-{share}.pt" for share in CURVE
    ]
    tuned = argparse.Namespace(**{**vars(args), "work": tmp_path / "b"})
    tuned.work.mkdir()
    train(tuned, pairs, start=model.state_dict())
    assert not list(tuned.work.glob("curve-*"))


def _asked(n: int) -> Asked:
    """A held-out question: answerable ones have their answer sentence among the candidates."""
    answerable = n % 2 == 0
    sentences = ["The mayor is Ana Ruiz.", "The bridge opened in 1901.", "It rained."]
    candidates = tuple(
        Candidate(s, 1.0 - i - 0.1 * (n % 3), answerable and i == n % 3, ((13, 21),))
        for i, s in enumerate(sentences)
    )
    return Asked(
        "Who is the mayor?" if answerable else "Who is the king?",
        answerable,
        ("Ana Ruiz",) if answerable else (),
        (float(n % 5),) * len(CONFIDENCE_FEATURES),
        candidates,
        "new-wiki",
        "Town",
    )


def _refit_args(tmp_path: Path, *extra: str) -> Any:
    """``--refit`` arguments (and ``extra``) for a copy of the shipped reader in ``tmp_path``."""
    from train.reader import build as train_reader

    for name in ("reader-int8.onnx", "reader.json"):
        shutil.copy(DATA / name, tmp_path / name)
    work = tmp_path / "work"
    work.mkdir()
    (work / "first-stage.txt").write_text("test stage\n")
    return train_reader.parse_args(
        ["--refit", "--no-refit", "--out", str(tmp_path), "--work", str(work), *extra]
    )


def test_refit_keeps_the_model_and_its_training_record(tmp_path: Path) -> None:
    """--refit fits the combination and answerability anew for the shipped model file and
    records the refit beside, not instead of, how the model was trained."""
    from train.reader import build as train_reader

    args = _refit_args(tmp_path)
    before = json.loads((tmp_path / "reader.json").read_text())
    asked = [_asked(n) for n in range(24)]
    train_reader.refit(args, tmp_path / "reader-int8.onnx", asked, asked[:4], 0.0)
    after = json.loads((tmp_path / "reader.json").read_text())
    assert after["sha256"] == before["sha256"]
    assert after["combined"] != before["combined"]
    assert after["provenance"]["command"] == before["provenance"]["command"]
    assert after["provenance"]["refit"]["first_stage"] == "test stage"
    assert after["provenance"]["metrics"]["heldout"]["questions"] == 12

    (tmp_path / "reader-int8.onnx").write_bytes(b"another model")
    with pytest.raises(SystemExit, match="does not match"):
        train_reader.refit(args, tmp_path / "reader-int8.onnx", asked, asked[:4], 0.0)


def test_refit_writes_the_one_sentence_reader_file_beside_the_three_sentence_one(
    tmp_path: Path,
) -> None:
    """reader-fast.json (one sentence read, for CPUs without int8 dot products) is refitted with
    reader.json: the same combination, fitted on three sentences a question (on one, every
    question it could learn from would be a positive), its own answerability on what it reads."""
    from train.reader import build as train_reader

    args = _refit_args(tmp_path)
    asked = [_asked(n) for n in range(24)]
    train_reader.refit(args, tmp_path / "reader-int8.onnx", asked, asked[:4], 0.0)
    full, fast = (
        json.loads((tmp_path / n).read_text()) for n in ("reader.json", "reader-fast.json")
    )
    assert (full["candidates"], fast["candidates"]) == (3, 1)
    assert fast["combined"] == full["combined"]
    assert fast["combined"]["weights"]["relevance"]["coef"] != 0.0
    assert fast["answerability"] != full["answerability"]
    assert fast["sha256"] == full["sha256"]


def test_refit_of_one_reader_file_leaves_a_reader_with_another_model_beside_it_alone(
    tmp_path: Path,
) -> None:
    """Two readers can share a folder (index/data: one per kind of CPU), each file with its own
    model (--model); --files refits only the one named."""
    from train.reader import build as train_reader

    args = _refit_args(tmp_path, "--files", FAST_READER.name, "--model", "other-int8.onnx")
    fast = json.loads(FAST_READER.read_text())
    shutil.copy(DATA / fast["model"], tmp_path / "other-int8.onnx")
    fast["model"] = "other-int8.onnx"
    (tmp_path / FAST_READER.name).write_text(json.dumps(fast))
    full_before = (tmp_path / "reader.json").read_bytes()
    asked = [_asked(n) for n in range(24)]
    train_reader.refit(args, tmp_path / "other-int8.onnx", asked, asked[:4], 0.0)
    assert (tmp_path / "reader.json").read_bytes() == full_before
    after = json.loads((tmp_path / FAST_READER.name).read_text())
    assert (after["model"], after["candidates"]) == ("other-int8.onnx", 1)
    assert "refit" in after["provenance"]
