"""One real server and one Chromium for the whole browser-test session; a fresh page per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from tests.browser.harness import DESKTOP, PUBLISHER, launch_chromium, running_server

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real model behind ``article-qa serve``; the publisher origin may call it (CORS), and
    it fetches the pages asked about by URL from a publisher on 127.0.0.1 (tests.publisher)."""
    with running_server(
        tmp_path_factory.mktemp("browser") / "data",
        cors_origins=PUBLISHER,
        fetch_allowed_hosts="127.0.0.1",
        fetch_private_hosts="true",
    ) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A desktop-sized page in its own context; an uncaught script error fails the test."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
