"""A short run of the soak-and-fault script (bench/soak.py): the real server under concurrent
readers and a writer, SIGKILLed mid-ingest and restarted, loses nothing and answers right."""

from __future__ import annotations

import pytest

from bench.soak import run

pytestmark = pytest.mark.soak


@pytest.mark.parametrize("fleet", [False, True], ids=["one-server", "fleet"])
def test_server_survives_kill_during_ingest(fleet: bool) -> None:
    """One server on SQLite, or two replicas on PostgreSQL and Redis where the other replica
    keeps answering while the first is killed, and sees every write at once."""
    report = run(duration=15, readers=8, fleet=fleet)
    assert report.kill_during_ingest, report
    assert report.server_errors() == 0, report
    assert report.wrong_answers == 0, report
    assert report.replica_misses == 0, report
    assert report.articles_lost == 0, report
    assert report.in_flight_article in ("absent", "complete"), report
    assert report.passed, report
