"""Soak and fault test: concurrent readers and a writer against the real server, killed mid-ingest.

Starts ``article-qa serve`` on a free loopback port in a fresh data directory, ingests a few known
articles and checks, while the server is calm, that every reader question is answered right. Then,
for ``--duration`` seconds, reader threads ask those questions (checking the answer's article id,
that every quote and passage is the article text at its offsets, and that the first citation holds
the expected fact) while a writer ingests and deletes scratch articles. Midway the script posts a
large article and, while that POST is in flight, SIGKILLs the server's process group, restarts it
on the same data directory and port and waits for /readyz and a first right answer (the recovery
time). Readers and writer pause while the server is deliberately down, so requests cut by the kill
are counted as ``interrupted``, not as errors.

Every article that was committed (201, and not deleted since with a 204) must afterwards be
listed, have its full text and sentence count and answer its question, both right after the
restart and at the end; any that does not counts in ``articles_lost``. The killed ingest must leave
its article absent or complete, never partial. Prints one JSON line; the exit status is 1 when any
check failed (5xx, transport errors while the server should be up, wrong answers, lost articles, a
partial article, or a kill that missed the ingest), 0 otherwise. When the soak cannot run at all
(the server never gets ready, before or after the kill, or answers wrong while calm) it raises
SoakError with the server's log instead. CI runs it short via ``tests/test_soak.py``.

``--fleet`` runs the same over two replicas sharing one PostgreSQL and one Redis (started here on
loopback, in temporary directories): readers ask either replica, each write goes to one and is
checked at once on the other (``replica_misses`` counts a write the other did not show), and the
first replica is the one killed mid-ingest while the second goes on answering; at the end every
committed article must be whole on both.

    .venv/bin/python -m bench.soak [--duration 60] [--readers 16] [--seed 0] [--fleet]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from bench import free_port, percentile, servers, wait_ready

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 180
REQUEST_TIMEOUT_S = 30
INGEST_TIMEOUT_S = 180
# Sentences of the article whose ingest is killed: several seconds of embedding on a busy server.
BIG_SENTENCES = 400
# After a restart the soak goes on at least this long, so readers exercise the restarted server.
AFTER_RESTART_S = 5
WRITER_PAUSE_S = 0.05
DELETE_SHARE = 0.3
MAX_PROBLEMS = 10

InFlight = Literal["absent", "complete", "partial", "unknown"]

# Short synthetic news articles with distinctive facts, and questions the real model answers with
# the sentence holding the fact (each checked at start-up, while the server is calm).
KNOWN: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Harbour bridge reopens after two-year repair",
        "The Kettering Harbour Bridge reopened to traffic on Monday after a two-year repair that "
        "cost 312 million dollars, the regional transport authority said.\n\n"
        "The bridge was closed in 2022 after inspectors found corroded suspension cables on its "
        "northern span.\n\n"
        "Chief engineer Maren Holt said crews replaced all 48 main cables and widened the deck to "
        "six lanes.\n\n"
        "About 85,000 vehicles are expected to cross the bridge every day, up from 61,000 before "
        "the closure.\n\n"
        "Ferry operators, who carried commuters across the harbour during the repair, will cut "
        "their timetable by half from next month.\n\n"
        "Mayor Tomas Reyes called the reopening \"the end of the longest detour in the city's "
        'history".',
        (
            ("Why was the bridge closed?", "corroded suspension cables"),
            ("How many vehicles will cross the bridge every day?", "85,000 vehicles"),
            ("What will ferry operators do?", "cut their timetable"),
            ("How many cables were replaced?", "48 main cables"),
        ),
    ),
    (
        "Council approves night-bus network",
        "The Dunmore city council voted 31 to 9 on Tuesday to approve a night-bus network that "
        "will run from midnight to 5 a.m.\n\n"
        "The network will have 14 routes and is expected to start operating in September.\n\n"
        "Councillor Priya Anand, who proposed the plan, said shift workers and hospital staff had "
        "waited years for it.\n\n"
        "The service will cost 7.4 million euros a year, paid for by a tourist tax on hotel "
        "stays.\n\n"
        "Opponents argued that the buses would run mostly empty on weekday nights.\n\n"
        "Fares will match daytime prices, and children under 12 will travel free.",
        (
            ("How many routes will the network have?", "14 routes"),
            ("Who proposed the night-bus plan?", "Priya Anand"),
            ("How much will the service cost?", "7.4 million euros"),
            ("Who travels free?", "children under 12"),
        ),
    ),
    (
        "Glacier station records warmest winter",
        "Scientists at the Tarnvik glacier research station say the past winter was the warmest "
        "since records began in 1958.\n\n"
        "The average temperature between December and February was minus 4.2 degrees Celsius, "
        "nearly three degrees above the long-term mean.\n\n"
        "Station director Lena Sørby said the glacier's tongue retreated 63 metres over the "
        "year.\n\n"
        "The team drilled an ice core 212 metres deep to study air bubbles trapped centuries "
        "ago.\n\n"
        "Funding for the station comes from the Nordic Polar Institute, which renewed its grant "
        "for another five years.\n\n"
        "The researchers plan to install a second automatic weather mast on the upper plateau "
        "next summer.",
        (
            ("How far did the glacier retreat?", "63 metres"),
            ("How deep was the ice core?", "212 metres"),
            ("Who funds the station?", "Nordic Polar Institute"),
            ("What will the researchers install next summer?", "weather mast"),
        ),
    ),
)
DEFAULT_QUESTIONS = (
    ("Who wrote this article?", "Written by: Ross Key"),
    ("How many times has Glas been convicted?", "convicted twice"),
    ("What did Ecuador refuse to give Glas?", "safe passage"),
    ("Which former president is Glas associated with?", "ex-president Rafael Correa"),
)
FILLERS = (
    "Inspectors logged {n} containers at the {place} terminal on day {d} of the audit.",
    "The {place} berth handled {n} tonnes of grain during the night shift.",
    "Crane operators at {place} reported {d} stoppages caused by strong wind.",
    "A pilot boat guided {n} vessels past the {place} breakwater before noon.",
    "Customs officers at {place} opened {d} crates for random checks.",
    "The {place} warehouse recorded a temperature of {d} degrees overnight.",
    "Dock workers unloaded {n} cars from a ferry at the {place} quay.",
    "Harbour police at {place} issued {d} parking fines to lorry drivers.",
)
PLACES = ("Ashford", "Bellmoor", "Corran", "Dunvale", "Eastwick", "Farrow", "Glenholm", "Hythe")
FACT_QUESTION = "What is the dispatch code of this report?"


class SoakError(RuntimeError):
    """The soak could not run as designed (server never ready, calm answers already wrong)."""


@dataclass(frozen=True)
class Expected:
    """What a committed article must still be: its text, sentence count and answers."""

    text: str
    sentences: int
    questions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Draft:
    """An article to ingest, with the question that finds its one distinctive sentence."""

    title: str
    text: str
    fact: str

    def body(self) -> dict[str, str]:
        return {"title": self.title, "text": self.text}

    def expected(self, sentences: int) -> Expected:
        return Expected(self.text, sentences, ((FACT_QUESTION, self.fact),))


@dataclass(frozen=True)
class BigArticle:
    """The large article whose ingest is killed, as a calm ingest stored it before the soak."""

    draft: Draft
    id: str
    expected: Expected
    calm_s: float


@dataclass
class Report:
    """The JSON line; see the module docstring for what passes."""

    duration_s: float = 0.0
    servers: int = 1
    store: str = "sqlite"
    readers: int = 0
    seed: int = 0
    requests: int = 0
    ok: int = 0
    # Non-2xx statuses, and transport errors ("connection", "timeout"), while the server was up.
    errors_by_status: dict[str, int] = field(
        default_factory=lambda: {"connection": 0, "timeout": 0}
    )
    interrupted: int = 0
    wrong_answers: int = 0
    # Fleet: a write acknowledged by one replica that another did not show at once.
    replica_misses: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    ingests: int = 0
    deletes: int = 0
    committed: int = 0
    kill_after_s: float = 0.0
    kill_during_ingest: bool = False
    restart_ready_s: float | None = None
    recovery_s: float | None = None
    articles_lost: int = 0
    in_flight_article: InFlight = "unknown"
    problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    passed: bool = False

    def server_errors(self) -> int:
        return sum(n for status, n in self.errors_by_status.items() if status.startswith("5"))

    def verdict(self) -> list[str]:
        """Why the run failed; empty when it passed."""
        failed = {
            "5xx responses": self.server_errors() > 0,
            "transport errors while up": self.errors_by_status.get("connection", 0)
            + self.errors_by_status.get("timeout", 0)
            > 0,
            "wrong answers": self.wrong_answers > 0,
            "a replica missed a write": self.replica_misses > 0,
            "articles lost": self.articles_lost > 0,
            "partial in-flight article": self.in_flight_article not in ("absent", "complete"),
            "kill missed the ingest": not self.kill_during_ingest,
            "no recovery": self.recovery_s is None,
        }
        return [reason for reason, bad in failed.items() if bad]


def _draft(rng: random.Random, title: str, fillers: int) -> Draft:
    """A news-like dispatch: filler sentences, one per paragraph, and one unique dispatch code."""
    code = f"{rng.choice('KLMNPQRSTVWXZ')}{rng.choice('ABCDEFGH')}-{rng.randrange(10000, 99999)}"
    lines = [
        rng.choice(FILLERS).format(
            n=rng.randrange(20, 5000), d=rng.randrange(2, 60), place=rng.choice(PLACES)
        )
        for _ in range(fillers)
    ]
    lines.insert(rng.randrange(len(lines) + 1), f"The dispatch code of this report is {code}.")
    return Draft(title, "\n\n".join(lines), code)


def _answer_problem(body: Any, article_id: str, text: str, fact: str) -> str | None:
    """What is wrong with an answer, or None when it is right and every offset holds."""
    if body.get("article_id") != article_id:
        return f"answer for {body.get('article_id')!r}, asked about {article_id!r}"
    citations = body.get("citations") or []
    if not body.get("answerable") or not citations:
        return f"{article_id}: declined"
    for citation in citations:
        passage = citation["passage"]
        if text[citation["start"] : citation["end"]] != citation["quote"]:
            return f"{article_id}: quote [{citation['start']}:{citation['end']}] not in the text"
        if text[passage["start"] : passage["end"]] != passage["text"]:
            return f"{article_id}: passage [{passage['start']}:{passage['end']}] not in the text"
    if fact not in citations[0]["quote"]:
        return f"{article_id}: first citation lacks {fact!r}: {citations[0]['quote'][:80]!r}"
    return None


class Server:
    """``article-qa serve`` in its own process group, so SIGKILL takes all of it."""

    def __init__(
        self, data_dir: Path, port: int, env: dict[str, str] | None = None, name: str = "server"
    ) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self._port = port
        self._data_dir = data_dir
        self._env = env or {}
        self._log = data_dir.parent / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLE_QA_")}
        env["ARTICLE_QA_DATA_DIR"] = str(self._data_dir)
        env.update(self._env)
        command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [*command, "--port", str(self._port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, client: httpx.Client) -> None:
        if self._process is None or not wait_ready(client, self._process, READY_TIMEOUT_S):
            raise SoakError("the server did not become ready")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler runs, as in a crash."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait(30)
            self._process = None

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-3000:]


@dataclass
class Soak:
    """State shared by the readers, the writer and the controller (the main thread)."""

    bases: tuple[str, ...]  # one server, or the replicas of a fleet
    known: dict[str, Expected]
    committed: dict[str, Expected]
    report: Report
    # Per server: set while it is meant to be up (cleared around its deliberate kill).
    up: dict[str, threading.Event] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    # Bumped at each deliberate kill: a request that fails across a bump was cut by the kill.
    generation: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Held by the writer for each write and its bookkeeping, and by the controller while it
    # checks the committed articles (in a fleet the writer goes on while one replica restarts).
    writes: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.up = {base: threading.Event() for base in self.bases}

    def live(self) -> list[str]:
        return [base for base in self.bases if self.up[base].is_set()]

    def problem(self, text: str) -> None:
        with self.lock:
            problems = self.report.problems
            if len(problems) < MAX_PROBLEMS and text not in problems:
                problems.append(text)

    def request(
        self,
        clients: dict[str, httpx.Client],
        base: str,
        method: str,
        url: str,
        body: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        """Send and count one request to one server; None when the transport failed (counted
        as an error unless the deliberate kill cut it)."""
        generation = self.generation
        started = time.perf_counter()
        try:
            response = clients[base].request(method, url, json=body)
        except httpx.TransportError as exc:
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
            with self.lock:
                cut = generation != self.generation or not self.up[base].is_set()
                if cut:
                    self.report.interrupted += 1
                else:
                    self._count(kind)
            if not cut:
                self.problem(f"{method} {base}{url}: {kind} error {exc!r}")
            return None
        with self.lock:
            if method == "POST" and url == "/v1/ask":
                self.latencies.append((time.perf_counter() - started) * 1000)
            self._count(str(response.status_code) if response.is_error else None)
        if response.is_error:
            self.problem(f"{method} {base}{url}: {response.status_code} {response.text[:200]}")
        return response

    def _count(self, error: str | None) -> None:
        self.report.requests += 1
        if error is None:
            self.report.ok += 1
        else:
            self.report.errors_by_status[error] = self.report.errors_by_status.get(error, 0) + 1

    def clients(self) -> dict[str, httpx.Client]:
        return {base: httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) for base in self.bases}

    def reader(self, seed: int) -> None:
        """Ask the known questions at random, of any server that is up, until told to stop,
        checking every answer."""
        rng = random.Random(seed)
        questions = [(aid, q, fact) for aid, e in self.known.items() for q, fact in e.questions]
        clients = self.clients()
        try:
            while not self.stop.is_set():
                if not (live := self.live()):
                    time.sleep(0.05)
                    continue
                article_id, question, fact = rng.choice(questions)
                body = {"question": question, "article_id": article_id}
                response = self.request(clients, rng.choice(live), "POST", "/v1/ask", body)
                if response is None or response.is_error:
                    continue
                text = self.known[article_id].text
                if (wrong := _answer_problem(response.json(), article_id, text, fact)) is not None:
                    with self.lock:
                        self.report.wrong_answers += 1
                    self.problem(f"wrong answer to {question!r}: {wrong}")
        finally:
            for client in clients.values():
                client.close()

    def writer(self, seed: int) -> None:
        """Ingest scratch articles and delete some of them, keeping ``committed`` exact. In a
        fleet each write goes to one replica and is checked at once on another."""
        rng = random.Random(seed)
        scratch: list[str] = []
        clients = self.clients()
        try:
            for n in itertools.count():
                if self.stop.is_set():
                    break
                with self.writes:  # not while the controller checks what is committed
                    if live := self.live():
                        title = f"Port dispatch {seed}-{n}"
                        self._write(clients, live[n % len(live)], rng, scratch, title)
                time.sleep(WRITER_PAUSE_S if live else 0.05)
        finally:
            for client in clients.values():
                client.close()

    def _write(
        self,
        clients: dict[str, httpx.Client],
        base: str,
        rng: random.Random,
        scratch: list[str],
        title: str,
    ) -> None:
        """One ingest, or one delete of a scratch article, through ``base``."""
        if scratch and rng.random() < DELETE_SHARE:
            article_id = scratch.pop(rng.randrange(len(scratch)))
            response = self.request(clients, base, "DELETE", f"/v1/articles/{article_id}")
            # Without a response the delete may or may not have happened: not committed.
            # After an error response it must still be there.
            if response is None or not response.is_error:
                with self.lock:
                    self.committed.pop(article_id)
                    if response is not None:
                        self.report.deletes += 1
            if response is not None and response.status_code == 204:
                self._check_elsewhere(clients, base, article_id, 404)
            return
        draft = _draft(rng, title, rng.randrange(3, 12))
        response = self.request(clients, base, "POST", "/v1/articles", draft.body())
        if response is not None and response.status_code == 201:
            created = response.json()
            with self.lock:
                self.committed[created["id"]] = draft.expected(created["sentences"])
                self.report.ingests += 1
            scratch.append(created["id"])
            self._check_elsewhere(clients, base, created["id"], 200)

    def _check_elsewhere(
        self, clients: dict[str, httpx.Client], written: str, article_id: str, status: int
    ) -> None:
        """Right after a write acknowledged by ``written``, another replica must show it."""
        others = [base for base in self.live() if base != written]
        if not others:
            return
        try:  # not counted as a request: a 404 is what is wanted after a delete
            response = clients[others[0]].get(f"/v1/articles/{article_id}")
        except httpx.TransportError:
            return  # the readers count transport errors
        if response.status_code != status:
            with self.lock:
                self.report.replica_misses += 1
            self.problem(f"{others[0]} answered {response.status_code} for {article_id} at once")


def _ask_problem(client: httpx.Client, article_id: str, expected: Expected) -> str | None:
    """The first wrong answer among an article's questions, or None."""
    for question, fact in expected.questions:
        response = client.post("/v1/ask", json={"question": question, "article_id": article_id})
        if response.status_code != 200:
            return f"{article_id}: {question!r} got {response.status_code}"
        if (wrong := _answer_problem(response.json(), article_id, expected.text, fact)) is not None:
            return wrong
    return None


def _listed(client: httpx.Client) -> set[str]:
    response = client.get("/v1/articles")
    response.raise_for_status()
    return {article["id"] for article in response.json()["articles"]}


def _damage(client: httpx.Client, article_id: str, expected: Expected) -> str | None:
    """Why a stored article is not intact (unreadable, other text or sentence count, wrong
    answers), or None."""
    response = client.get(f"/v1/articles/{article_id}")
    if response.status_code != 200:
        return f"{article_id}: GET {response.status_code}"
    detail = response.json()
    if detail["text"] != expected.text or len(detail["sentences"]) != expected.sentences:
        return f"{article_id}: text or sentences differ ({len(detail['sentences'])} sentences)"
    return _ask_problem(client, article_id, expected)


def _lost(client: httpx.Client, soak: Soak, when: str) -> set[str]:
    """Ids of committed articles that are not all there; each one noted as a problem."""
    with soak.writes:
        listed = _listed(client)
        with soak.lock:
            committed = sorted(soak.committed.items())
        lost: set[str] = set()
        for article_id, expected in committed:
            problem = (
                f"{article_id}: not listed"
                if article_id not in listed
                else _damage(client, article_id, expected)
            )
            if problem is not None:
                lost.add(article_id)
                soak.problem(f"lost {when}: {problem}")
        return lost


def _in_flight_state(client: httpx.Client, soak: Soak, big: BigArticle) -> InFlight:
    """Absent or complete are both fine after a crash; anything in between is partial."""
    listed = big.id in _listed(client)
    status = client.get(f"/v1/articles/{big.id}").status_code
    if status == 404 and not listed:
        return "absent"
    damage = _damage(client, big.id, big.expected)
    if listed and damage is None:
        return "complete"
    soak.problem(f"in-flight article partial: listed {listed}, GET {status}, {damage}")
    return "partial"


def _created(response: httpx.Response) -> Any:
    if response.status_code != 201:
        raise SoakError(f"ingest got {response.status_code}: {response.text[:300]}")
    return response.json()


def _setup(client: httpx.Client) -> dict[str, Expected]:
    """Ingest the known articles and check every reader question on the calm server."""
    sources: list[tuple[str, str | None, tuple[tuple[str, str], ...]]] = [
        ("default", None, DEFAULT_QUESTIONS)
    ]
    for title, sent, questions in KNOWN:
        created = _created(client.post("/v1/articles", json={"title": title, "text": sent}))
        sources.append((created["id"], sent, questions))
    known: dict[str, Expected] = {}
    for article_id, text, questions in sources:
        detail = client.get(f"/v1/articles/{article_id}").raise_for_status().json()
        if text is not None and detail["text"] != text:
            raise SoakError(f"{article_id}: the stored text is not the text sent")
        known[article_id] = Expected(detail["text"], len(detail["sentences"]), questions)
        if (wrong := _ask_problem(client, article_id, known[article_id])) is not None:
            raise SoakError(f"wrong answer on the calm server: {wrong}")
    return known


def _first_right_answer(client: httpx.Client, article_id: str, expected: Expected) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if _ask_problem(client, article_id, expected) is None:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SoakError("no right answer after the restart")


def _kill_during_ingest(
    soak: Soak, server: Server, client: httpx.Client, big: BigArticle, delay: float
) -> set[str]:
    """Post the big article, SIGKILL the server while it is in flight, restart it, check the
    in-flight article and every committed one, and resume the soak; returns the ids of lost
    articles."""
    outcome: list[httpx.Response | httpx.TransportError] = []

    def post() -> None:
        with httpx.Client(base_url=server.base, timeout=INGEST_TIMEOUT_S) as poster:
            try:
                outcome.append(poster.post("/v1/articles", json=big.draft.body()))
            except httpx.TransportError as exc:
                outcome.append(exc)

    posting = threading.Thread(target=post, daemon=True)
    posted = time.perf_counter()
    posting.start()
    posting.join(delay)
    with soak.lock:
        soak.up[server.base].clear()  # the other replicas of a fleet go on serving
        soak.generation += 1
    killed = time.perf_counter()
    server.kill()
    posting.join(INGEST_TIMEOUT_S)
    report = soak.report
    report.kill_after_s = round(killed - posted, 2)
    report.kill_during_ingest = bool(outcome) and isinstance(outcome[0], httpx.TransportError)
    if outcome and isinstance(outcome[0], httpx.Response) and outcome[0].status_code == 201:
        with soak.lock:
            soak.committed[big.id] = big.expected

    server.start()
    server.wait_ready(client)
    report.restart_ready_s = round(time.perf_counter() - killed, 2)
    first = next(aid for aid in soak.known if aid != "default")
    _first_right_answer(client, first, soak.known[first])
    report.recovery_s = round(time.perf_counter() - killed, 2)

    report.in_flight_article = _in_flight_state(client, soak, big)
    if report.in_flight_article == "complete":
        with soak.lock:
            soak.committed[big.id] = big.expected  # from now on it must stay
    lost = _lost(client, soak, "after the restart")
    soak.up[server.base].set()
    return lost


def _calibrate(client: httpx.Client, rng: random.Random, seed: int) -> BigArticle:
    """Ingest the big article once on the calm server (its id, sentence count and ingest time),
    then delete it so that the killed ingest creates it afresh."""
    draft = _draft(rng, f"Port dispatch archive {seed}", BIG_SENTENCES)
    started = time.perf_counter()
    created = _created(client.post("/v1/articles", json=draft.body(), timeout=INGEST_TIMEOUT_S))
    calm_s = time.perf_counter() - started
    if (status := client.delete(f"/v1/articles/{created['id']}").status_code) != 204:
        raise SoakError(f"deleting the big article got {status}")
    return BigArticle(draft, created["id"], draft.expected(created["sentences"]), calm_s)


def _soak(servers: list[Server], duration: float, readers: int, seed: int) -> Report:
    """The soak over one server, or over a fleet whose first replica is the one killed."""
    rng = random.Random(seed)
    report = Report(readers=readers, seed=seed, servers=len(servers))
    for server in servers:
        server.start()
    victim = servers[0]
    # No keep-alive: the controller's client idles longer than the server keeps connections open.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=victim.base, timeout=REQUEST_TIMEOUT_S, limits=no_reuse) as client:
        for server in servers:
            with httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT_S) as probe:
                server.wait_ready(probe)
        known = _setup(client)
        big = _calibrate(client, rng, seed)
        soak = Soak(tuple(server.base for server in servers), known, dict(known), report)
        threads = [
            threading.Thread(target=soak.reader, args=(seed * 1000 + i,), daemon=True)
            for i in range(readers)
        ]
        threads.append(threading.Thread(target=soak.writer, args=(seed,), daemon=True))
        for event in soak.up.values():
            event.set()
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            time.sleep(duration / 2)
            # Within the calm ingest time, so the POST is still in flight on the busy server.
            lost = _kill_during_ingest(
                soak, victim, client, big, big.calm_s * rng.uniform(0.2, 0.8)
            )
            end = max(began + duration, time.perf_counter() + AFTER_RESTART_S)
            time.sleep(max(0.0, end - time.perf_counter()))
        finally:
            soak.stop.set()
            deadline = time.monotonic() + REQUEST_TIMEOUT_S + 5
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        report.duration_s = round(time.perf_counter() - began, 1)
        if stuck := sum(thread.is_alive() for thread in threads):
            soak.problem(f"{stuck} threads did not stop")
        for server in servers:  # every replica must hold every committed article
            with httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT_S) as each:
                lost |= _lost(each, soak, f"at the end on {server.base}")
    report.articles_lost = len(lost)
    report.committed = len(soak.committed)
    if soak.latencies:
        report.p50_ms = round(statistics.median(soak.latencies), 1)
        report.p99_ms = round(percentile(soak.latencies, 0.99), 1)
    report.failures = report.verdict()
    report.passed = not report.failures
    return report


def run(duration: float = 60, readers: int = 16, seed: int = 0, fleet: bool = False) -> Report:
    """One soak in a fresh temporary data directory; the servers are stopped whatever happens.

    ``fleet``: two replicas over one PostgreSQL and one Redis, each started here on loopback.
    """
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="article-qa-soak-")))
        if fleet:
            database = stack.enter_context(servers.postgres(fsync=True))
            limits = stack.enter_context(servers.redis())
            env = {
                "ARTICLE_QA_DATABASE_URL": database.create_database("articles"),
                "ARTICLE_QA_RATE_LIMIT_STORAGE": limits.url,
            }
            fleet_servers = [
                Server(tmp / f"data-{name}", free_port(), env, f"replica-{name}")
                for name in ("a", "b")
            ]
        else:
            fleet_servers = [Server(tmp / "data", free_port())]
        try:
            report = _soak(fleet_servers, duration, readers, seed)
        except SoakError as exc:
            logs = "\n".join(f"{s.base}:\n{s.log_tail()}" for s in fleet_servers)
            raise SoakError(f"{exc}\nserver logs:\n{logs}") from exc
        finally:
            for server in fleet_servers:
                server.stop()
    report.store = "postgresql" if fleet else "sqlite"
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds (default 60)")
    parser.add_argument("--readers", type=int, default=16, help="reader threads (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="two replicas over one PostgreSQL and one Redis (started here on loopback)",
    )
    args = parser.parse_args()
    report = run(args.duration, args.readers, args.seed, args.fleet)
    print(json.dumps(dataclasses.asdict(report), ensure_ascii=False))
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
