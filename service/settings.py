"""Service settings from ``ARTICLE_QA_*`` environment variables (built per app, never at import)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.encoder import DEFAULT_MODEL


class Settings(BaseSettings):
    """Everything an operator can change without touching code."""

    model_config = SettingsConfigDict(env_prefix="ARTICLE_QA_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where articles and indexes are stored.")
    model: str = Field(DEFAULT_MODEL, description="Embedding model name or local directory.")
    threads: int = Field(1, ge=1, le=64, description="Math-library threads per process.")
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Confidence below which the answer is 'does not say'."
    )
    max_article_chars: int = Field(2_000_000, ge=1, description="Largest article accepted.")
    max_body_bytes: int = Field(
        8_000_000, ge=1024, description="Largest request body, enforced before it is read."
    )
