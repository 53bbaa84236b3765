"""``make models`` (python -m train): every shipped file rebuilt in the model cards' order, and a
rerun skips what is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from train.__main__ import latest_snapshot, linked, main


def test_the_steps_rebuild_every_shipped_file_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--dry-run", "--work", str(tmp_path)])
    lines = capsys.readouterr().err.splitlines()
    names = [line.split(":")[1].strip() for line in lines]
    assert names[:7] == [
        "mine", "encoder", "encoder-ship",
        "documents", "documents-again", "documents-ship",
        "ranker",
    ]  # fmt: skip
    again = lines[names.index("documents-again")]
    assert f"--init {tmp_path / 'distil' / 'final'}" in again
    assert f"--work {tmp_path / 'distil-again'}" in again
    assert f"--ship {tmp_path / 'distil-again' / 'final'}" in lines[names.index("documents-ship")]
    for layers in (6, 3):
        stages = [f"reader-{layers}l-{s}" for s in ("base", "squad", "refit", "answerability")]
        assert [n for n in names if n.startswith(f"reader-{layers}l-")] == stages
    assert "--reader index/data/reader.json" in lines[names.index("reader-6l-answerability")]
    assert "--reader index/data/reader-fast.json" in lines[names.index("reader-3l-answerability")]
    assert not any(tmp_path.iterdir())  # a dry run writes nothing

    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "mine").touch()
    main(["--dry-run", "--work", str(tmp_path)])
    assert capsys.readouterr().err.startswith("train: mine: done")


def test_the_encoder_ships_the_snapshot_its_run_stopped_at(tmp_path: Path) -> None:
    for n in (1216, 9504, 2432):
        (tmp_path / f"step-{n}").mkdir()
    assert latest_snapshot(tmp_path) == tmp_path / "step-9504"


def test_a_reader_fine_tunes_in_its_own_folder_on_the_pairs_mined_once(tmp_path: Path) -> None:
    mined = tmp_path / "reader"
    mined.mkdir()
    for name in ("pairs.jsonl", "heldout.jsonl", "report.jsonl", "first-stage.txt"):
        (mined / name).write_text(name)
    link = linked(mined, tmp_path / "reader-6l")
    link()
    link()  # again, as a resumed run does
    assert (tmp_path / "reader-6l" / "heldout.jsonl").read_text() == "heldout.jsonl"
    assert (tmp_path / "reader-6l" / "pairs.jsonl").is_symlink()


def test_the_training_data_is_read_from_the_shared_folder_beside_the_project() -> None:
    """``make models`` reads ../shared from the project root, whichever module reads it."""
    from train.reader.data import DEFAULT_TRAIN
    from train.squad import DEFAULT_DATA

    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    assert DEFAULT_DATA.resolve() == shared
    assert DEFAULT_TRAIN.resolve() == shared / "train"
