"""Hostile and broken input: a clear 4xx problem or a correct answer, never a 5xx, a hang, or
damage to stored data or to anything outside the data directory."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from index.encoder import HashingEncoder
from index.ranker import RankerWeights
from qa.segment import MAX_SENTENCE_CHARS
from service import problems
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import LOOPBACK, ready_client
from tests.service.test_api import assert_problem

WHO = {"question": "Who wrote the article?"}
ASK, ARTICLES = "/v1/ask", "/v1/articles"
JSON = {"content-type": "application/json"}
# Random bytes read as latin-1: NULs, control characters and accented letters.
GARBAGE = random.Random(0).randbytes(300).decode("latin-1")
# Where a path traversal out of the data directory would land: must never be read or changed.
SENTINELS = ("etc/passwd", "victim/article.json", "victim/articles.db")

PROBLEMS: list[tuple[str, object, int]] = [
    (ASK, {"question": ""}, 422),
    (ASK, {"question": " \t\n\u00a0\u3000\u2028 "}, 422),
    (ASK, {"question": "x" * 100_000}, 422),
    (ASK, {"question": " " + "x" * 1000}, 422),  # over 1000 characters as sent
    (ASK, {"question": "\x85\x1c"}, 422),  # whitespace to str.strip(), not to JSON Schema's \s
    (ASK, b'{"question": ', 422),
    (ASK, b'{"question": "\xff\xfe\xc0 who?"}', 400),
    (ASK, b"", 422),
    (ASK, [WHO], 422),
    (ASK, {"question": 42}, 422),
    (ASK, {"question": None}, 422),
    (ASK, {"question": ["Who?"]}, 422),
    (ASK, {**WHO, "admin": True}, 422),
    (ASK, {**WHO, "top_k": 10**100}, 422),
    (ASK, {**WHO, "top_k": 1e308}, 422),
    (ASK, {**WHO, "top_k": -1}, 422),
    (ASK, {**WHO, "top_k": "3"}, 422),  # not a JSON integer, though pydantic would convert it
    (ASK, {**WHO, "top_k": True}, 422),
    (ASK, {**WHO, "history": ["Who?"] * 10_000}, 422),
    (ASK, {**WHO, "history": "Who?"}, 422),
    (ASK, {**WHO, "article_id": "x" * 10_000}, 422),
    (ASK, {**WHO, "article_id": "../../etc/passwd"}, 404),
    (ASK, {**WHO, "article_id": "..\\..\\victim"}, 404),
    (ASK, {**WHO, "article_id": "default\x00"}, 404),
    (ASK, {**WHO, "article_id": "ｄｅｆａｕｌｔ"}, 404),
    (ASK, {**WHO, "article_id": "DEFAULT"}, 404),
    (ASK, {**WHO, "article_id": "default' OR '1'='1"}, 404),
    (ARTICLES, b"", 422),
    (ARTICLES, b'{"text": "\xff\xfe Bad bytes. Really."}', 400),
    (ARTICLES, {"text": ""}, 422),
    (ARTICLES, {"text": "\x00\x01\x02 \n\n \x7f"}, 422),
    (ARTICLES, {"html": ""}, 422),
    (ARTICLES, {"html": "<script>steal()</script><iframe src='x'></iframe>"}, 422),
    (ARTICLES, {"text": "One. Two.", "html": "<p>Three.</p>"}, 422),
    (ARTICLES, {"text": 5}, 422),
    (ARTICLES, {"text": "Replace the default. Please.", "id": "default"}, 422),
    (ARTICLES, {"text": "Long title. Here.", "title": "t" * 501}, 422),
    (ARTICLES, {"text": "word " * 20_000}, 413),  # over the 50,000-character article limit
]

# Sent as json.dumps writes them, as "\ud800" escapes: valid JSON, but not valid Unicode.
LONE_SURROGATES: list[tuple[str, dict[str, Any], str]] = [
    (ASK, {"question": "Who \ud800 wrote it?"}, "question"),
    (ASK, {**WHO, "history": ["Who?", "\udfff"]}, "history.1"),
    (ASK, {**WHO, "article_id": "default\udc80"}, "article_id"),
    (ARTICLES, {"text": "A lone \udfff surrogate. Here."}, "text"),
    (ARTICLES, {"html": "<p>A lone \ud800 surrogate. Here.</p>"}, "html"),
    (ARTICLES, {"text": "Fine text. Here.", "title": "\ud800"}, "title"),
    (ARTICLES, {"text": "Fine text. Here.", "url": "https://news.example/\udc80"}, "url"),
]

# Path segments, percent-encoded as a client would send them.
HOSTILE_IDS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E%2F%2E%2E%2Fvictim",
    "..%5C..%5Cvictim",
    "%2E%2E",
    "x" * 10_000,
    "a%00b",
    "default%00",
    "default%0A",
    "%E2%98%83",
    "%EF%BD%84%EF%BD%85%EF%BD%86%EF%BD%81%EF%BD%95%EF%BD%8C%EF%BD%94",  # full-width "default"
    "DEFAULT",
    "%FF%FE",  # not UTF-8
    "%ED%A0%80",  # an encoded lone surrogate
    "default'%20OR%20'1'='1",
]

ANSWERED = [
    {"question": GARBAGE},
    {"question": "\x00" * 50},
    {"question": "?" * 1000},
    {"question": "😀🔥" * 100},
    {"question": "\u200b"},
    {**WHO, "history": [GARBAGE, "", "\x00"]},
]


@dataclass
class Target:
    """One app shared by the whole hostile batch, so damage would accumulate and show."""

    client: TestClient
    root: Path
    data_dir: Path
    before: dict[str, Any]

    def state(self) -> dict[str, Any]:
        """What no rejected request may change; the data directory itself is compared through
        the API (a database may touch its files on a read)."""
        outside = {
            str(path.relative_to(self.root)): (path.stat().st_mtime_ns, path.read_bytes())
            for path in self.root.rglob("*")
            if path.is_file() and self.data_dir not in path.parents
        }
        return {
            "articles": self.client.get(ARTICLES).json(),
            "default": self.client.get(f"{ARTICLES}/default").json(),
            "answer": self.client.post(ASK, json=WHO).json(),
            "outside": outside,
        }


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("hostile")
    for sentinel in SENTINELS:
        (root / sentinel).parent.mkdir(parents=True, exist_ok=True)
        (root / sentinel).write_text("keep me\n")
    weights = root / "blend-weights.json"
    RankerWeights.blend().save(weights)
    # As tests/service/conftest.py's settings, at module scope.
    settings = Settings(
        data_dir=root / "data",
        max_article_chars=50_000,
        max_body_bytes=200_000,
        ranker_weights=weights,
    )
    for client in ready_client(create_app(settings, lambda _: HashingEncoder())):
        target = Target(client, root, settings.data_dir, {})
        target.before = target.state()
        assert target.before["answer"]["citations"][0]["quote"] == "Written by: Ross Key"
        yield target


def _json(body: object) -> bytes | None:
    """Bytes go as they are; anything else as json.dumps writes it (ASCII, with escapes)."""
    return body if isinstance(body, bytes | None) else json.dumps(body).encode()


@pytest.mark.parametrize(("url", "body", "status"), PROBLEMS)
def test_hostile_body_is_a_problem(target: Target, url: str, body: object, status: int) -> None:
    assert_problem(target.client.post(url, content=_json(body), headers=JSON), status)
    assert target.state() == target.before


@pytest.mark.parametrize(("url", "body", "field"), LONE_SURROGATES)
def test_lone_surrogate_is_a_clear_422(
    target: Target, url: str, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(target.client.post(url, content=_json(body), headers=JSON), 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert "lone surrogate" in problem["detail"]
    assert target.state() == target.before


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("article_id", HOSTILE_IDS, ids=lambda i: i[:40])
def test_hostile_article_id_is_a_problem(target: Target, method: str, article_id: str) -> None:
    response = target.client.request(method, f"{ARTICLES}/{article_id}")
    assert response.status_code in (404, 422), response.text
    assert_problem(response, response.status_code)
    assert target.state() == target.before


@pytest.mark.parametrize("body", ANSWERED, ids=range(len(ANSWERED)))
def test_garbage_question_gets_a_correct_answer(target: Target, body: dict[str, Any]) -> None:
    response = target.client.post(ASK, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["article_id"] == "default"
    text = target.before["default"]["text"]
    assert answer["citations"]
    for citation in answer["citations"]:
        assert text[citation["start"] : citation["end"]] == citation["quote"]
        passage = citation["passage"]
        assert text[passage["start"] : passage["end"]] == passage["text"]
    assert target.state() == target.before


def test_control_characters_do_not_change_the_answer(target: Target) -> None:
    noisy = target.client.post(ASK, json={"question": "Who\x00 wrote\x1b the article?\x7f"})
    assert noisy.json() == target.before["answer"]


@dataclass
class Streamed:
    response: httpx.Response
    pulled_before_answer: int  # body bytes the app had read when it started its response
    pulled: int  # in all, the rejected rest that was read and discarded included


def post_in_chunks(
    client: TestClient,
    path: str,
    chunks: Iterator[bytes],
    length: int | None,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Streamed:
    """POST straight to the ASGI app one chunk at a time, as a server does (TestClient reads the
    whole body first); reports how many body bytes the app pulled before and after it answered."""
    pulled, pulled_before_answer = 0, -1
    start: Message = {}
    body = bytearray()

    async def receive() -> Message:
        nonlocal pulled
        chunk = next(chunks, b"")
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunk)}

    async def send(message: Message) -> None:
        nonlocal pulled_before_answer
        if message["type"] == "http.response.start":
            start.update(message)
            pulled_before_answer = pulled
        else:
            body.extend(message.get("body", b""))

    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"), *extra_headers]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": LOOPBACK,
        "server": ("testserver", 80),
    }
    assert client.portal is not None
    client.portal.call(client.app, scope, receive, send)
    headers_out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
    response = httpx.Response(start["status"], headers=headers_out, content=bytes(body))
    return Streamed(response, pulled_before_answer, pulled)


def article_chunks(megabytes: int, chunk: int = 64 * 1024) -> tuple[int, Iterator[bytes]]:
    """A JSON article of about ``megabytes`` MiB in chunks, and its size in bytes."""
    count = megabytes * 1024 * 1024 // chunk
    size = len(b'{"text": "') + chunk * count + len(b'"}')
    return size, chain([b'{"text": "'], repeat(b"a" * chunk, count), [b'"}'])


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_fifty_megabyte_body_is_rejected_before_it_is_read(
    settings: Settings, client: TestClient, declared: bool
) -> None:
    size, chunks = article_chunks(50)
    streamed = post_in_chunks(client, ARTICLES, chunks, size if declared else None)
    assert_problem(streamed.response, 413)
    assert streamed.response.headers["connection"] == "close"
    limit = 0 if declared else settings.max_body_bytes + 64 * 1024
    assert 0 <= streamed.pulled_before_answer <= limit
    assert streamed.pulled == size  # the rest was drained, so the client can read the 413
    assert [a["id"] for a in client.get(ARTICLES).json()["articles"]] == ["default"]


def test_rejected_body_is_drained_only_up_to_a_bound(client: TestClient) -> None:
    size, chunks = article_chunks(problems.DRAIN_BYTES // 2**20 + 16)
    streamed = post_in_chunks(client, ARTICLES, chunks, size)
    assert_problem(streamed.response, 413)
    assert problems.DRAIN_BYTES <= streamed.pulled <= problems.DRAIN_BYTES + 64 * 1024 < size


def test_a_stalled_body_is_drained_only_for_a_while(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stops sending mid-body keeps the 413's connection open only so long."""
    monkeypatch.setattr(problems, "DRAIN_SECONDS", 0.05)
    sent: list[Message] = []

    async def stalled() -> Message:
        await asyncio.sleep(60)
        raise AssertionError("the drain should have timed out")

    async def send(message: Message) -> None:
        sent.append(message)

    async def never_called(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("an oversized body must not reach the app")

    async def post() -> None:
        limit = problems.BodyLimit(never_called, max_bytes=5)
        scope = {"type": "http", "headers": [(b"content-length", b"1000")]}
        await asyncio.wait_for(limit(scope, stalled, send), 5)

    assert client.portal is not None  # the test client's event loop, as post_in_chunks uses
    client.portal.call(post)
    assert sent[0]["status"] == 413 and sent[-1] == {"type": "http.response.body", "body": b""}


def test_client_waiting_for_100_continue_is_not_made_to_send(client: TestClient) -> None:
    size, chunks = article_chunks(50)
    expect = ((b"expect", b"100-continue"),)
    streamed = post_in_chunks(client, ARTICLES, chunks, size, extra_headers=expect)
    assert_problem(streamed.response, 413)
    assert streamed.pulled == 0


def test_client_that_sends_before_reading_gets_the_413_problem(live_server: str) -> None:
    """urllib sends the whole 50 MB, with "Connection: close", before it reads: a server that
    closed at once, with the body unread, would reset the connection instead."""
    body = b'{"text": "' + b"a" * 50_000_000 + b'"}'
    request = urllib.request.Request(
        f"{live_server}{ARTICLES}", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as rejected:
        urllib.request.urlopen(request, timeout=30)
    assert rejected.value.code == 413
    assert rejected.value.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(rejected.value.read())
    assert problem["status"] == 413 and "larger than" in problem["detail"]


# One line with no sentence boundary: the segmenter must cap its sentences, not give up or hang.
_RANDOM = random.Random(1)
MEGABYTE_LINES = {
    "words": " ".join(
        "".join(_RANDOM.choices("bcdfghklmnprstvz", k=_RANDOM.randint(2, 9)))
        for _ in range(200_000)
    )[:1_000_000],
    "one-token": "abcdefghij" * 100_000,
    "only-full-stops": "." * 1_000_000,
}


@pytest.mark.parametrize("kind", MEGABYTE_LINES)
def test_megabyte_line_is_ingested(settings: Settings, kind: str) -> None:
    line = MEGABYTE_LINES[kind]
    roomy = settings.model_copy(
        update={"max_article_chars": 1_000_000, "max_body_bytes": 1_100_000}
    )
    for client in ready_client(create_app(roomy, lambda _: HashingEncoder())):
        created = client.post(ARTICLES, json={"text": line})
        assert created.status_code == 201, created.text
        detail = client.get(f"{ARTICLES}/{created.json()['id']}").json()
        assert detail["text"] == line
        sentences = detail["sentences"]
        assert len(sentences) >= len(line) // MAX_SENTENCE_CHARS
        for sentence in sentences:
            assert 0 < len(sentence["text"]) <= MAX_SENTENCE_CHARS
            assert line[sentence["start"] : sentence["end"]] == sentence["text"]
        answer = client.post(
            ASK, json={"question": f"What about {line[:20]}?", "article_id": detail["id"]}
        ).json()
        first = answer["citations"][0]
        assert line[first["start"] : first["end"]] == first["quote"]


HOSTILE_HTML = """<!doctype html><html><head><title>Harbour bridge reopens</title>
<script>steal('EVIL-HEAD')</script><SCRIPT type="text/template">EVIL-UPPER</SCRIPT>
<meta http-equiv="refresh" content="0;url=javascript:alert('EVIL-META')"></head>
<body onload="alert('EVIL-ONLOAD')"><h1>Harbour bridge reopens after repairs</h1>
<p>The bridge reopened on Monday.<script>document.write('EVIL-INLINE')</script> Traffic flowed.</p>
<p>Engineers replaced 40 steel cables. <a href="javascript:alert('EVIL-HREF')">Read the report</a>.
<a href="JaVaScRiPt:alert('EVIL-HREF2')" onclick="EVIL-ONCLICK()">More</a></p>
<iframe src="javascript:alert('EVIL-IFRAME')">EVIL-IFRAME-BODY</iframe>
<iframe srcdoc="<script>EVIL-SRCDOC()</script>"></iframe>
<img src=x onerror="alert('EVIL-IMG')"><svg><script>EVIL-SVG()</script></svg>
<noscript>EVIL-NOSCRIPT</noscript><object data="javascript:EVIL-OBJECT()">EVIL-OBJECT-BODY</object>
<!-- <script>EVIL-COMMENT()</script> --><style>p::after { content: 'EVIL-STYLE' }</style>
<template><p>EVIL-TEMPLATE</p></template>
<p>The city's chief engineer, Ana Ruiz, said the work finished early.</p>
<script>unclosed('EVIL-UNCLOSED')
"""


def test_html_scripts_frames_and_javascript_urls_are_not_ingested(client: TestClient) -> None:
    created = client.post(ARTICLES, json={"html": HOSTILE_HTML})
    assert created.status_code == 201, created.text
    detail = client.get(f"{ARTICLES}/{created.json()['id']}").json()
    for stored in (detail["text"], detail["title"]):
        assert "EVIL" not in stored
        assert "javascript" not in stored.lower()
    assert "Engineers replaced 40 steel cables. Read the report. More" in detail["text"]
    assert "Ana Ruiz" in detail["text"]
