"""Fixtures shared by the qa tests: the bundled default article, raw and parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.article import parse_text
from qa.models import Article

DEFAULT_TITLE = "Mexico grants asylum to Jorge Glas"
DEFAULT_PATH = Path(qa.__file__).resolve().parent / "data" / "default-article.txt"


@pytest.fixture(scope="session")
def default_text() -> str:
    return DEFAULT_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def default_article(default_text: str) -> Article:
    return parse_text(default_text, title=DEFAULT_TITLE)
