"""A short run of the soak-and-fault script (bench/soak.py): the real server under concurrent
readers and a writer, SIGKILLed mid-ingest and restarted, loses nothing and answers right."""

from __future__ import annotations

import pytest

from bench.soak import run

pytestmark = pytest.mark.soak


def test_server_survives_kill_during_ingest() -> None:
    report = run(duration=15, readers=8)
    assert report.kill_during_ingest, report
    assert report.server_errors() == 0, report
    assert report.wrong_answers == 0, report
    assert report.articles_lost == 0, report
    assert report.in_flight_article in ("absent", "complete"), report
    assert report.passed, report
