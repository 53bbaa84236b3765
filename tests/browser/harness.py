"""Drive the real server and Debian's Chromium: shared by the browser tests and the screenshots
script (``python -m tests.browser.screenshots``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect

from bench import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
# Playwright cannot download its own browsers here; `make test` installs Debian's.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READY_TIMEOUT_S = 120
# A second origin for embedding tests: Playwright serves its pages, nothing listens on the port.
PUBLISHER = "http://localhost:48123"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 360, "height": 740}
HIGHLIGHT = "article-qa-citation"
# The answer_span of the cited quote, highlighted over it.
ANSWER_HIGHLIGHT = "article-qa-answer"


@contextmanager
def running_server(data_dir: Path, **settings: str) -> Iterator[str]:
    """``article-qa serve`` on a free loopback port, ready to answer; yields its base URL.
    ``settings``: more of its settings, ``cors_origins="..."`` for ARTICLE_QA_CORS_ORIGINS."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLE_QA_")}
    env |= {"ARTICLE_QA_DATA_DIR": str(data_dir)}
    env |= {f"ARTICLE_QA_{name.upper()}": value for name, value in settings.items()}
    log_path = data_dir.parent / f"server-{port}.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(base, server, log_path)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)


def _wait_ready(base: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    with httpx.Client(base_url=base, timeout=5) as client:
        if wait_ready(client, server, READY_TIMEOUT_S, poll=0.1):
            return
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the server did not become ready (exit status {server.poll()}):\n{tail}")


def launch_chromium(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing; install it with `apt-get install -y chromium` "
            "(`make test` does this when it can)"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def ask(page: Page, question: str) -> None:
    """Type a question, send it with Enter and wait until the reply (or an error) is shown."""
    log = page.get_by_role("log")
    replies = log.locator(".bot:not(.thinking)")
    before = replies.count()
    page.get_by_role("textbox", name="Question").fill(question)
    page.get_by_role("textbox", name="Question").press("Enter")
    expect(replies).to_have_count(before + 1)


def highlighted_text(page: Page, name: str = HIGHLIGHT) -> str:
    """The article text currently painted by the widget's citation highlight (or another of its
    named highlights)."""
    text: str = page.evaluate(
        "name => [...(CSS.highlights.get(name) ?? [])].map(String).join('')", name
    )
    return text


def show_cited_answer(page: Page, base: str) -> None:
    """The demo page with the widget open after two questions, the second answer's citation
    highlighted in the article: what the README screenshots show."""
    page.goto(base)
    page.get_by_role("button", name="Ask").click()
    ask(page, "Who wrote this article?")
    ask(page, "How long has Glas been in the embassy?")
    page.get_by_role("log").locator(".answer").last.get_by_role("button", name="Citation 1").click()
    page.wait_for_function("name => CSS.highlights.get(name)?.size > 0", arg=HIGHLIGHT)
