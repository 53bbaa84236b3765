"""Screenshots of the chat widget for the README: docs/widget-desktop.png and widget-phone.png.

Starts the real server in a temporary data directory and drives Debian's Chromium through the
same steps as the browser tests (tests/browser), with reduced motion so nothing is mid-scroll.

    .venv/bin/python -m tests.browser.screenshots
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    ROOT,
    launch_chromium,
    running_server,
    show_cited_answer,
)

SHOTS = {"widget-desktop.png": (DESKTOP, 1), "widget-phone.png": (PHONE, 2)}


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp) / "data") as base,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        for name, (viewport, scale) in SHOTS.items():
            context = browser.new_context(
                viewport=viewport, device_scale_factor=scale, reduced_motion="reduce"
            )
            page = context.new_page()
            show_cited_answer(page, base)
            path = ROOT / "docs" / name
            page.screenshot(path=path)
            context.close()
            print(path.relative_to(ROOT))
        browser.close()


if __name__ == "__main__":
    main()
