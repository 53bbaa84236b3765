"""The article-qa command, in-process, with the fake encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from bench.servers import Postgres
from index.encoder import HashingEncoder
from service import cli


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, blend_weights: Path) -> Path:
    monkeypatch.setattr(cli, "real_encoder", lambda _: HashingEncoder())
    monkeypatch.setenv("ARTICLE_QA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARTICLE_QA_RANKER_WEIGHTS", str(blend_weights))
    monkeypatch.setenv("ARTICLE_QA_READER", "false")  # trained for MiniLM, not the fake encoder
    return tmp_path


def test_ingest_prints_id_then_ask_and_list_use_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "story.txt"
    path.write_text("Bridge news\n\nThe bridge reopened on Monday. Engineers replaced 40 cables.\n")
    assert cli.main(["ingest", str(path)]) == 0
    article_id = capsys.readouterr().out.strip()
    assert article_id.startswith("bridge-news-")

    assert cli.main(["ask", "How many cables were replaced?", "--article", article_id]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Engineers replaced 40 cables. [1]"
    assert "[1] Engineers replaced 40 cables. (chars " in out

    assert cli.main(["list"]) == 0
    assert f"{article_id}\t3 sentences\tBridge news" in capsys.readouterr().out

    assert cli.main(["delete", article_id]) == 0
    assert cli.main(["ask", "Anything?", "--article", article_id]) == 1
    assert "no article with id" in capsys.readouterr().err


def test_search_across_stored_articles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["search", "anything"]) == 0  # an empty archive is not an error
    assert capsys.readouterr().out == "No stored article has a matching sentence.\n"
    path = tmp_path / "ferry.txt"
    path.write_text("Harbour news\n\nThe ferry sank in a storm. Nobody was hurt.\n")
    assert cli.main(["ingest", str(path)]) == 0
    article_id = capsys.readouterr().out.strip()
    assert cli.main(["search", "ferry sank storm", "--top-k", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[1:] == [article_id, "The ferry sank in a storm. (chars 14-40)"]
    assert cli.main(["search", "ferry", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["results"][0]["article_id"] == article_id
    assert set(body["results"][0]) == {"article_id", "title", "quote", "start", "end", "score"}
    assert cli.main(["search", "   "]) == 1
    assert "the query is empty" in capsys.readouterr().err


def test_ask_json_matches_the_api_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "Who wrote this article?", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert set(body) == {"article_id", "answerable", "answer", "confidence", "citations"}
    assert body["citations"][0]["quote"] == "Written by: Ross Key"


def test_ingest_detects_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><body><h1>Tide report</h1><script>x()</script>"
        "<p>High tide is at noon.</p></body></html>"
    )
    assert cli.main(["ingest", str(path)]) == 0
    article_id = capsys.readouterr().out.strip()
    assert cli.main(["ask", "When is high tide?", "--article", article_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["citations"][0]["quote"] == "High tide is at noon."


def test_long_ingest_reports_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "long.txt"
    path.write_text("\n\n".join(f"Sentence number {i} is here." for i in range(300)))
    assert cli.main(["ingest", str(path)]) == 0
    assert "embedding sentences: 300/300" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ingest", "/nonexistent/file.txt"], "No such file or directory: /nonexistent/file.txt"),
        (["ask", "   "], "the question is empty"),
        (["ask", "Who?", "--article", "../../etc/passwd"], "no article with id"),
    ],
)
def test_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("article-qa: error: ")
    assert message in err


def test_binary_and_empty_files_are_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    assert cli.main(["ingest", str(binary)]) == 1
    assert "is not UTF-8 text" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert cli.main(["ingest", str(empty)]) == 1
    assert "no readable text" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THRESHOLD", "high"),
        ("DATABASE_URL", "mysql://user@db/articles"),
        ("RATE_LIMIT_STORAGE", "memcached://cache:11211"),
    ],
)
def test_bad_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(f"ARTICLE_QA_{name}", value)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err
    assert f"invalid setting ARTICLE_QA_{name}" in err and err.count("\n") == 1


def test_an_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARTICLE_QA_DATABASE_URL", "postgresql://app:secret@127.0.0.1:9/articles")
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to postgresql://127.0.0.1:9/articles" in err
    assert "secret" not in err and err.count("\n") == 1


def test_migrate_copies_the_sqlite_store_into_postgresql_without_embedding(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    postgres_server: Postgres,
) -> None:
    for name in ("bridge", "ferry"):
        path = tmp_path / f"{name}.txt"
        path.write_text(f"{name.title()} news\n\nThe {name} reopened on Monday. It is busy.\n")
        assert cli.main(["ingest", str(path)]) == 0
    ids = capsys.readouterr().out.split()
    url = postgres_server.create_database()
    assert cli.main(["migrate", "--to", url]) == 0
    assert capsys.readouterr().out.startswith("copied 2 articles from ")

    def no_embedding(_: object) -> HashingEncoder:
        encoder = HashingEncoder()
        encoder.encode_documents = None  # type: ignore[assignment,method-assign]
        return encoder

    monkeypatch.setattr(cli, "real_encoder", no_embedding)  # loading must not re-embed
    monkeypatch.setenv("ARTICLE_QA_DATABASE_URL", url)
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert all(article_id in listed for article_id in ids)
    assert cli.main(["ask", "When did the ferry reopen?", "--article", ids[1]]) == 0
    assert "The ferry reopened on Monday." in capsys.readouterr().out

    monkeypatch.delenv("ARTICLE_QA_DATABASE_URL")
    monkeypatch.setattr(cli, "real_encoder", lambda _: HashingEncoder())
    assert cli.main(["migrate", "--to", url]) == 0  # again: everything is already there
    out = capsys.readouterr().out
    assert out.startswith("copied 0 articles") and "kept 2 articles" in out


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("sqlite:///x.db", "--to must be a postgresql:// URL"),
        ("postgresql://nobody@127.0.0.1:9/none", "cannot connect to postgresql://127.0.0.1:9/"),
    ],
)
def test_migrate_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], to: str, message: str
) -> None:
    assert cli.main(["migrate", "--to", "postgresql://127.0.0.1:9/none"]) == 1
    assert "there is no article database" in capsys.readouterr().err  # nothing stored yet
    path = tmp_path / "a.txt"
    path.write_text("News\n\nSomething happened today.\n")
    assert cli.main(["ingest", str(path)]) == 0
    capsys.readouterr()
    assert cli.main(["migrate", "--to", to]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_command_pins_numpy_blas_threads_to_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARTICLE_QA_THREADS", "7")
    saved = threadpool_limits(limits=None)  # this process's limits, restored below
    try:
        assert cli.main(["list"]) == 0
        numpy_blas = [p["num_threads"] for p in threadpool_info() if "numpy" in p["filepath"]]
    finally:
        saved.restore_original_limits()
    assert numpy_blas == [7]  # OpenBLAS starts one per core: 7 only if pinned
