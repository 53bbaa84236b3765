"""The benchmarks' target check, the speed paths, and the suite on a fresh clone: what needs
../shared is skipped, saying so."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import check_targets
from index.encoder import DEFAULT_CACHE


def test_targets_are_checked_in_both_directions() -> None:
    result = {"p50": 7.5, "ingest": {"per_s": 380}}
    checked = check_targets(result, [("p50", "<=", 8), ("ingest.per_s", ">=", 400)])
    assert checked == [
        {"measure": "p50", "target": "<= 8", "measured": 7.5, "met": True},
        {"measure": "ingest.per_s", "target": ">= 400", "measured": 380, "met": False},
    ]


def test_a_target_on_the_limit_is_met() -> None:
    assert check_targets({"recall": 0.95}, [("recall", ">=", 0.95)])[0]["met"] is True


# /proc/cpuinfo's first processor on three kinds of machine, trimmed to the fields read.
def test_speed_serves_the_baseline_path_from_the_other_checkout(tmp_path: Path) -> None:
    """The build before is measured in the same run as today's: its server runs that
    checkout's code with this checkout's model cache (no second export)."""
    from bench import speed

    args = argparse.Namespace(baseline=tmp_path / "before", reader=tmp_path / "r.json")
    settings, code = speed.path_settings("baseline", args)
    assert code == (tmp_path / "before").resolve()
    assert settings == speed.PATHS["product"] | {
        "ARTICLE_QA_MODEL_CACHE": str(DEFAULT_CACHE.resolve())
    }
    settings, code = speed.path_settings("reader-file", args)
    assert code is None
    assert settings["ARTICLE_QA_READER_WEIGHTS"] == str((tmp_path / "r.json").resolve())
    assert speed.path_settings("product", args) == (speed.PATHS["product"], None)
    with pytest.raises(SystemExit, match="--baseline DIR"):
        speed.path_settings("baseline", argparse.Namespace(baseline=None, reader=None))


def test_a_target_whose_measure_was_skipped_is_neither_met_nor_missed() -> None:
    result = {"ingest_squad": {"skipped": "skipped: needs ../shared/data"}}
    assert check_targets(result, [("ingest_squad.per_s", ">=", 400)])[0]["met"] is None


@pytest.mark.parametrize(("module", "option"), [("quality", "--data"), ("spans", "--train")])
def test_a_benchmark_that_needs_the_shared_data_says_so_and_skips(
    tmp_path: Path, module: str, option: str
) -> None:
    """A fresh clone has no ../shared beside it: one JSON line, exit status 0."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", option, str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["skipped"].startswith(f"skipped: needs {tmp_path / 'none'}")


def test_speed_ingests_the_default_article_where_squad_is_missing(tmp_path: Path) -> None:
    from bench import speed
    from index.library import DEFAULT_ARTICLE

    text, corpus = speed.megabyte_article(tmp_path)
    assert corpus == "the default article, repeated"
    assert len(text) == speed.MEGABYTE
    first = DEFAULT_ARTICLE.read_text("utf-8").strip().split("\n\n")[0]
    assert text.startswith(first)


def test_the_suite_reports_the_headline_measures_it_finds() -> None:
    from bench.__main__ import headline

    report = {"product": {"hit@1": 0.9, "misses": []}, "targets": [], "skipped": {"dialogues": 8}}
    assert headline(report, ("product.hit@1", "all.turns")) == {
        "product.hit@1": 0.9,
        "targets": [],
        "skipped": {"dialogues": 8},
    }
