"""Service settings from ``ARTICLE_QA_*`` environment variables (built per app, never at import)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
from limits import parse
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.encoder import BUNDLED_MODEL, DEFAULT_BACKEND, DEFAULT_MODEL, Backend


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _listed(value: object, clean: Callable[[str], str]) -> object:
    """A list from "a,b" or '["a", "b"]' (operators write both), each item cleaned, empty ones
    dropped."""
    if isinstance(value, str):
        value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
    if isinstance(value, list):
        cleaned = [clean(item) if isinstance(item, str) else item for item in value]
        return [item for item in cleaned if item != ""]
    return value


def _host_name(entry: str) -> str:
    """The host as a URL carries it (lowercase, an international name in its xn-- form, no final
    dot), so an exact comparison finds it; a URL or a port could never match, so it is refused."""
    entry = entry.strip()
    if not entry:
        return ""
    if re.search(r"[/:@?#\[\]\\\s]", entry):
        raise ValueError(
            f"{entry!r} is not a host name: list names such as news.example, without scheme, "
            "port or path"
        )
    try:
        return httpx.URL(f"http://{entry}/").raw_host.decode("ascii").rstrip(".")
    except httpx.InvalidURL as exc:
        raise ValueError(f"{entry!r} is not a host name ({exc})") from None


class Settings(BaseSettings):
    """Everything an operator can change without touching code."""

    model_config = SettingsConfigDict(env_prefix="ARTICLE_QA_", extra="ignore")

    data_dir: Path = Field(
        Path("var"), description="Where articles are stored (SQLite), unless database_url is set."
    )
    database_url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host:5432/db: store articles in PostgreSQL, "
        "shared by every replica; unset: the SQLite file in data_dir.",
    )
    database_pool: int = Field(
        8, ge=1, le=100, description="PostgreSQL connections per server process."
    )
    model: str = Field(
        DEFAULT_MODEL,
        description="Embedding model name or local directory: the default is MiniLM fine-tuned "
        "for questions (shipped in index/data), whose articles are embedded by its distilled "
        f"three-layer student; {BUNDLED_MODEL!r} is the stock model (one model for both).",
    )
    backend: Backend = Field(
        DEFAULT_BACKEND,
        description="'onnx': int8 MiniLM on ONNX Runtime for questions (about 10x faster), "
        "bf16 on OpenVINO for ingests where the CPU has bf16; 'torch': the float PyTorch "
        "model. Switching rebuilds stored vectors.",
    )
    model_cache: Path = Field(
        default_factory=lambda: _user_cache() / "article-qa",
        description="Where the default model is assembled and its one-time ONNX export kept.",
    )
    threads: int = Field(
        1, ge=1, le=64, description="Math-library threads per process for answering questions."
    )
    workers: int = Field(
        1,
        ge=1,
        le=32,
        description="Server processes (`article-qa serve`); they share the stored articles, so "
        "each loads them without re-embedding.",
    )
    ingest_threads: int = Field(
        2, ge=1, le=64, description="Threads (OpenVINO streams) for embedding added articles."
    )
    threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Confidence below which the answer is 'does not say'; unset: the threshold "
        "chosen with the reader (or, with the reader off, with the shipped ranker weights).",
    )
    reader: bool = Field(
        True,
        description="Read the best sentences with the trained reader (index/data/): better "
        "ranking, answer spans and abstention; false: the first stage alone, cheaper.",
    )
    reader_weights: Path | None = Field(
        None,
        description="Reader file (python -m train.reader); unset: the shipped "
        "index/data/reader.json (six layers reading the best two sentences) on every CPU, so "
        "answers do not depend on the machine. index/data/reader-fast.json (three layers "
        "reading the best one) doubles throughput on CPUs without int8 dot products, at about "
        "6 points of news hit@1.",
    )
    reader_threads: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Math-library threads for the reader per process; unset: two where the "
        "CPU lacks int8 dot products (AVX2 alone: 1.5 times faster than one), else one.",
    )
    ranker_weights: Path | None = Field(
        None,
        description="Ranker weights file (python -m train.ranker); unset: the shipped one.",
    )
    max_article_chars: int = Field(2_000_000, ge=1, description="Largest article accepted.")
    max_body_bytes: int = Field(
        8_000_000, ge=1024, description="Largest request body, enforced before it is read."
    )
    api_key: SecretStr | None = Field(
        None,
        description="Bearer token that POST/DELETE /v1/articles require; unset: writes are "
        "accepted only from loopback clients.",
    )
    ask_rate_limit: str = Field(
        "120/minute",
        description="Questions one client address may ask, e.g. '120/minute' or '5/second'; "
        "empty: no limit.",
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where ask counts are kept: 'memory://' (per process) or "
        "'redis://host:6379/0', shared by every worker and replica (asks are still served, "
        "unlimited, while Redis is unreachable).",
    )
    rate_limit_loopback: bool = Field(
        False, description="Also limit clients on loopback (off: local tools and tests are free)."
    )
    fetch_private_hosts: bool = Field(
        False,
        description="Let ingest by URL fetch from loopback, private and link-local addresses "
        "(an intranet, tests). Off: only public addresses are fetched, so the server cannot be "
        "made to read what only it can reach.",
    )
    fetch_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts whose pages are fetched and stored when a question names an article "
        "by a URL that is not stored yet (the widget on every article page, no ingest step); "
        "comma-separated or a JSON list of host names, exact matches (a subdomain is its own "
        "entry), compared case-insensitively. None by default: such a question is a 404.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins whose pages may call the API (the widget on another site); "
        "comma-separated or a JSON list, '*' for any. None by default.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Drop trailing slashes, which browsers never send in an Origin header."""
        return _listed(value, lambda origin: origin.strip().rstrip("/"))

    @field_validator("fetch_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        return _listed(value, _host_name)

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        value = value.strip() or "memory://"
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("must be memory:// or a redis://host:port/db URL")
        return value

    @field_validator("ask_rate_limit")
    @classmethod
    def _parse_rate(cls, value: str) -> str:
        """Fail at start-up, not on the first question, when the limit is misspelt."""
        value = value.strip()
        if value:
            try:
                amount = parse(value).amount
            except ValueError:
                amount = 0
            if amount < 1:
                raise ValueError(f"{value!r} is not a rate such as '120/minute' or '5/second'")
        return value
