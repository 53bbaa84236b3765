"""Persist articles and their FAISS sentence index under a data directory.

Layout, one directory per article (plain, inspectable files; no pickle)::

    <data_dir>/articles/<id>/article.json   text, blocks and metadata (the source of truth)
    <data_dir>/articles/<id>/vectors.faiss  FAISS IndexFlatIP over sentence vectors
    <data_dir>/articles/<id>/manifest.json  format version, model, dimension, text checksum

An article directory is written complete under a temporary name and renamed into place, so a
crash leaves either the old article or the new one. Sentences are re-derived from the stored
blocks on load (segmentation is deterministic and versioned in the manifest), so derived state is
never stored twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.encoder import Vectors
from qa.errors import ArticleNotFoundError, IndexMismatchError
from qa.models import Article, Block, Kind

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Bump when qa.segment changes how text is cut: stored vectors are then rebuilt.
SEGMENTER_VERSION = 1
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class StaleIndexError(IndexMismatchError):
    """The article is readable but its vectors must be rebuilt (model, version or text changed)."""

    def __init__(
        self, reason: str, article: Article, created: str, text_changed: bool = False
    ) -> None:
        super().__init__(reason)
        self.article = article
        self.created = created
        # The stored blocks describe the old text, so the text must be parsed again.
        self.text_changed = text_changed


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an index was built with; checked on every load."""

    format_version: int
    segmenter_version: int
    model: str
    dim: int
    text_sha256: str
    sentences: int

    @classmethod
    def for_article(cls, article: Article, model: str, dim: int, sentences: int) -> Manifest:
        return cls(FORMAT_VERSION, SEGMENTER_VERSION, model, dim, checksum(article.text), sentences)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def valid_id(article_id: str) -> bool:
    """Ids are short slugs, which also keeps them safe as directory names."""
    return bool(ID_PATTERN.fullmatch(article_id))


def _article_to_json(article_id: str, article: Article, created: str) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "id": article_id,
        "title": article.title,
        "url": article.url,
        "byline": article.byline,
        "publisher": article.publisher,
        "created": created,
        "text": article.text,
        "blocks": [[b.start, b.end, b.kind.value] for b in article.blocks],
    }


def _article_from_json(data: dict[str, Any]) -> Article:
    text, title = data["text"], data["title"]
    if not isinstance(text, str) or not isinstance(title, str):
        raise TypeError("text and title must be strings")
    blocks = tuple(Block(int(s), int(e), Kind(k)) for s, e, k in data["blocks"])
    if any(not 0 <= b.start < b.end <= len(text) for b in blocks):
        raise ValueError("a block lies outside the text")
    return Article(
        text=text,
        title=title,
        blocks=blocks,
        byline=data.get("byline"),
        publisher=data.get("publisher"),
        url=data.get("url"),
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def build_faiss(vectors: Vectors) -> faiss.Index:
    """Exact inner-product index: articles hold hundreds of sentences, so exact search is cheap."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class ArticleStore:
    """Reads and writes article directories; knows nothing about models beyond their names."""

    def __init__(self, root: Path) -> None:
        self.root = root / "articles"
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, article_id: str) -> Path:
        if not valid_id(article_id):
            raise ArticleNotFoundError(f"no article with id {article_id[:80]!r}")
        return self.root / article_id

    def ids(self) -> list[str]:
        """Ids of stored articles, oldest name first; temporary directories are skipped."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and valid_id(p.name))

    def exists(self, article_id: str) -> bool:
        return valid_id(article_id) and (self.root / article_id / "article.json").is_file()

    def save(
        self, article_id: str, article: Article, vectors: Vectors, manifest: Manifest, created: str
    ) -> None:
        """Write the article directory atomically (temp directory, fsync, rename)."""
        final = self._dir(article_id)
        tmp = self.root / f".tmp-{article_id}-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            _write_json(tmp / "article.json", _article_to_json(article_id, article, created))
            faiss.write_index(build_faiss(vectors), str(tmp / "vectors.faiss"))
            _write_json(tmp / "manifest.json", dataclasses.asdict(manifest) | {"created": created})
            for name in ("article.json", "vectors.faiss", "manifest.json"):
                with (tmp / name).open("rb") as handle:
                    os.fsync(handle.fileno())
            if final.exists():
                trash = self.root / f".trash-{article_id}-{uuid.uuid4().hex}"
                final.rename(trash)
                tmp.rename(final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def load(self, article_id: str, model: str, dim: int) -> tuple[Article, faiss.Index, str]:
        """Load an article and its index, checking the manifest.

        Raises:
            ArticleNotFoundError: nothing is stored under this id.
            StaleIndexError: the text is fine but the vectors must be rebuilt.
            IndexMismatchError: the article itself is unreadable.
        """
        folder = self._dir(article_id)
        try:
            data = json.loads((folder / "article.json").read_text(encoding="utf-8"))
            article = _article_from_json(data)
            created = str(data.get("created", ""))
        except FileNotFoundError as exc:
            raise ArticleNotFoundError(f"no article with id {article_id!r}") from exc
        # Not UTF-8, not JSON, not a file, or JSON of the wrong shape.
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise IndexMismatchError(
                f"article {article_id!r} is unreadable ({exc}); delete it and ingest it again"
            ) from exc

        def stale(reason: str, text_changed: bool = False) -> StaleIndexError:
            return StaleIndexError(
                f"index of {article_id!r} is stale: {reason}", article, created, text_changed
            )

        try:
            raw = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            manifest = Manifest(**{k: raw[k] for k in Manifest.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise stale(f"manifest missing or unreadable ({exc})") from exc
        expected = Manifest.for_article(article, model, dim, manifest.sentences)
        for field in Manifest.__dataclass_fields__:
            if getattr(manifest, field) != getattr(expected, field):
                raise stale(
                    f"{field} is {getattr(manifest, field)!r}, "
                    f"expected {getattr(expected, field)!r}",
                    text_changed=field == "text_sha256",
                )
        try:
            index = faiss.read_index(str(folder / "vectors.faiss"))
        except RuntimeError as exc:
            raise stale(f"vectors file unreadable ({str(exc).splitlines()[0]})") from exc
        if index.ntotal != manifest.sentences or index.d != dim:
            raise stale(
                f"vectors file holds {index.ntotal}x{index.d}, "
                f"manifest says {manifest.sentences}x{dim}"
            )
        return article, index, created

    def delete(self, article_id: str) -> None:
        """Remove an article; the rename first makes the removal atomic for readers."""
        folder = self._dir(article_id)
        if not folder.is_dir():
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        trash = self.root / f".trash-{article_id}-{uuid.uuid4().hex}"
        folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)

    def clean_leftovers(self) -> None:
        """Remove temporary directories left by a crash mid-write."""
        for path in self.root.iterdir():
            if path.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(path, ignore_errors=True)
