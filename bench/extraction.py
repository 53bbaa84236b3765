"""Extraction benchmark: how much of a real page's article text the product keeps, and nothing else.

Publishers post pages, not clean text, and every answer quotes what the HTML parser kept, so a
teaser, a comment or a menu kept as body text is a citation waiting to go wrong. This scores the
product's pipeline, over HTTP as a user meets it (``POST /v1/articles`` with the page's HTML,
then ``GET /v1/articles/{id}`` and its ``body`` and ``heading`` sentences), against Mozilla
Readability's test pages (``bench/data/extraction``, whose README says where they come from),
beside two libraries run alone: trafilatura and readability-lxml.

    .venv/bin/python -m bench.extraction [--pages NAME,NAME] [--extractors product,...]
                                         [--encoder hashing|real] [--json]

A page's reference is the text of its ``expected.html``; a candidate is scored on 4-token
shingles, as multisets: precision = shared / candidate shingles, recall = shared / reference
shingles (``score``). Tokens are NFKC-normalised, lowercased ``\\w+`` words, except that
Chinese and Japanese characters, written without spaces, are one token each (``tokens``).
A page is refused when the extractor raises, answers an error, or returns no words; it then
scores 0 and counts in every average. Figures: micro P/R/F1 (shingles summed over pages), macro
F1 (the mean of the pages'), refusals and ms per page, overall and per split (``tune``: the pages
extraction work may be tuned on; ``held-out``: about a third, by a hash of the name, that it may
not). Prints one JSON object; ``--json`` adds every page's row for every extractor.

Extractors: ``product`` (above); ``product_text``, the same request's whole stored text, every
kind of block (what the parser kept before classifying it); ``trafilatura`` (``extract`` with
its defaults, comments and tables included); ``readability`` (readability-lxml's
``Document(html).summary()`` as text).

The product ingests with the hashing encoder by default: extraction does not depend on
embeddings, and the shipped MiniLM gives the same figures in about four times the time (2 min
12 s against 32 s for all pages on two cores; ``--encoder real`` runs it).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shlex
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, cast

import lxml.html
from fastapi.testclient import TestClient
from lxml import etree

from bench import percentile
from index.encoder import Encoder, HashingEncoder
from index.machine import machine
from service.app import create_app
from service.settings import Settings
from service.state import real_encoder

DATA = Path(__file__).resolve().parent / "data" / "extraction"
PAGES = DATA / "pages"
SHINGLE = 4
# The sentence kinds an answer may quote: what the product offers as the article's text.
CITABLE_KINDS = frozenset({"body", "heading"})
EXTRACTORS = ("product", "product_text", "trafilatura", "readability")
HEADLINE = ("product", "trafilatura", "readability")

Split = Literal["tune", "held-out"]

# Tags whose start and end separate words: text either side of them is not one word.
_BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "br", "caption", "center", "dd",
     "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
     "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "html", "iframe", "img", "li", "main",
     "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
     "thead", "tr", "ul"}
)  # fmt: skip
# Never text a reader sees. <head> holds the <title>, which is metadata, not body.
_HIDDEN_TAGS = ("head", "script", "style", "noscript", "template")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# Han, kana and CJK punctuation-free ideographs: scripts written without spaces between words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+")


# --- tokens, reference text and the scorer ------------------------------------------------


def tokens(text: str) -> list[str]:
    """The words a score counts: NFKC-normalised and lowercased, so a ligature, a full-width
    letter or a capital does not count as a different word; punctuation is not a word. A Han or
    kana character is a word by itself, since those scripts put no spaces between words."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def html_blocks(html: str) -> list[str]:
    """The text of an HTML page or fragment, one string per run of text between block
    boundaries (a paragraph, a list item, a cell), whitespace collapsed, empty runs left out.

    ``text_content()`` alone would glue ``<p>end</p><p>Start`` into one word "endstart"; this
    breaks at every block element's start and end instead, and not at inline ones (``<b>W</b>ord``
    stays one word). Scripts, styles, ``<head>`` (the ``<title>`` is metadata) and comments are
    not text."""
    html = _XML_DECLARATION.sub("", html, count=1)
    if not html.strip():
        return []
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    hidden = (
        "|".join(f"//{tag}" for tag in _HIDDEN_TAGS) + "|//comment()|//processing-instruction()"
    )
    # Comments and processing instructions are lxml.html's own classes, with drop_tree too.
    for element in cast(list[lxml.html.HtmlElement], root.xpath(hidden)):
        if element.getparent() is not None:
            element.drop_tree()  # keeps its tail, which is the parent's text
    blocks: list[str] = []
    run: list[str] = []

    def flush() -> None:
        line = " ".join("".join(run).split())
        if line:
            blocks.append(line)
        run.clear()

    for event, element in etree.iterwalk(root, events=("start", "end")):
        block = isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS
        if event == "start":
            if block:
                flush()
            if isinstance(element.tag, str):
                run.append(element.text or "")
        else:
            if block:
                flush()
            if element is not root:
                run.append(element.tail or "")
    flush()
    return blocks


def reference_tokens(expected_html: str) -> list[str]:
    """A page's known article text as words: the text of its ``expected.html``."""
    return tokens(" ".join(html_blocks(expected_html)))


def shingles(words: Sequence[str], n: int = SHINGLE) -> Counter[tuple[str, ...]]:
    """Each run of ``n`` consecutive words, counted (a multiset: a paragraph kept twice is
    counted twice, so duplication costs precision). A text of fewer than ``n`` words, but some,
    is one shingle of all of them, so a one-line article can still be matched."""
    if 0 < len(words) < n:
        return Counter([tuple(words)])
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


@dataclass(frozen=True, slots=True)
class Overlap:
    """Shingle counts for one page or summed over pages; the scores follow from them."""

    common: int
    candidate: int
    reference: int

    @property
    def precision(self) -> float:
        """Share of the candidate's shingles that are in the reference. An empty candidate has
        none right: 0, unless the reference is empty too (nothing to find, nothing found: 1)."""
        if self.candidate == 0:
            return 1.0 if self.reference == 0 else 0.0
        return self.common / self.candidate

    @property
    def recall(self) -> float:
        """Share of the reference's shingles that the candidate has (1 for an empty reference)."""
        return self.common / self.reference if self.reference else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Overlap) -> Overlap:
        return Overlap(
            self.common + other.common,
            self.candidate + other.candidate,
            self.reference + other.reference,
        )


def score(candidate: Sequence[str], reference: Sequence[str], n: int = SHINGLE) -> Overlap:
    """Multiset shingle overlap of candidate words with reference words."""
    cand, ref = shingles(candidate, n), shingles(reference, n)
    return Overlap(sum((cand & ref).values()), cand.total(), ref.total())


# --- the pages --------------------------------------------------------------------------------


def split_of(name: str) -> Split:
    """Which part a page belongs to, from its name alone (sha256, first 8 bytes, mod 3 == 0:
    held out), so adding or removing pages never moves another page between parts."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return "held-out" if int.from_bytes(digest[:8], "big") % 3 == 0 else "tune"


@dataclass(frozen=True)
class Page:
    """One test page: the HTML a publisher serves and the article text Readability.js extracts
    from it, reviewed by its maintainers as the test's expected output (``expected.html``),
    with their ``expected-metadata.json``."""

    name: str
    source_html: str
    expected_html: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def split(self) -> Split:
        return split_of(self.name)

    @cached_property
    def reference(self) -> list[str]:
        return reference_tokens(self.expected_html)


def page_names(root: Path = PAGES) -> list[str]:
    """Every stored page, sorted by name."""
    return sorted(p.name for p in root.iterdir() if (p / "source.html.gz").is_file())


def _read_html(path: Path) -> str:
    """A stored page's text: gzip of the original bytes, UTF-8; a byte-order mark (two source
    pages start with one) marks the encoding and is not text, as an HTTP client decodes it."""
    return gzip.decompress(path.read_bytes()).decode("utf-8-sig")


def load_page(name: str, root: Path = PAGES) -> Page:
    folder = root / name
    if not (folder / "source.html.gz").is_file():
        known = ", ".join(page_names(root)[:5])
        raise SystemExit(f"no page {name!r} in {root} (pages are named like {known}, ...)")
    metadata_path = folder / "expected-metadata.json"
    metadata = json.loads(metadata_path.read_text("utf-8")) if metadata_path.is_file() else {}
    return Page(
        name,
        _read_html(folder / "source.html.gz"),
        _read_html(folder / "expected.html.gz"),
        metadata,
    )


def load_pages(names: Sequence[str] | None = None, root: Path = PAGES) -> list[Page]:
    return [load_page(name, root) for name in (names or page_names(root))]


# --- the extractors ---------------------------------------------------------------------------


class RefusedError(Exception):
    """The extractor declined the page (an error answer, or no text); the message says why."""


# An extractor turns a page into the pieces of text it keeps (blocks or sentences, in order).
Extractor = Callable[[Page], list[str]]


def trafilatura_blocks(page: Page) -> list[str]:
    """trafilatura alone, with its default options (comments and tables included), as the
    library ships it; its plain-text output, one line per block."""
    import trafilatura

    text = trafilatura.extract(page.source_html)
    return [] if text is None else text.splitlines()


def readability_blocks(page: Page) -> list[str]:
    """readability-lxml alone: ``Document(html).summary()``, the article's HTML, as text."""
    from readability import Document  # type: ignore[import-untyped]

    summary: str = Document(page.source_html).summary()
    return html_blocks(summary)


def bench_settings(data_dir: Path) -> Settings:
    """The service's settings as shipped, for a throwaway store: the size limits a user meets,
    no database, key or reader from the environment (the reader is not used by an ingest)."""
    return Settings(data_dir=data_dir, database_url=None, api_key=None, reader=False)


@dataclass
class ProductOverHttp:
    """The product's pipeline as a client meets it: the FastAPI app in this process, driven by
    TestClient from loopback (where writes need no key). Each page is posted as HTML; an answer
    other than 201 is a refusal; the kept text is the article's body and heading sentences."""

    client: TestClient
    # Per page posted: the whole stored text (every kind, for ``product_text``) and the kept
    # sentences (for the diagnosis of the worst pages).
    text: dict[str, str] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)

    def __call__(self, page: Page) -> list[str]:
        posted = self.client.post(
            "/v1/articles",
            json={"html": page.source_html, "url": f"http://fakehost/{page.name}/"},
        )
        if posted.status_code != 201:
            raise RefusedError(f"{posted.status_code}: {_problem(posted.text)}")
        got = self.client.get(f"/v1/articles/{posted.json()['id']}")
        if got.status_code != 200:
            raise RefusedError(f"GET {got.status_code}: {_problem(got.text)}")
        article = got.json()
        self.text[page.name] = article["text"]
        kept = [s["text"] for s in article["sentences"] if s["kind"] in CITABLE_KINDS]
        self.kept[page.name] = kept
        return kept

    def stored_text(self, page: Page) -> list[str]:
        """The whole stored text of the page just posted, boilerplate and bylines included:
        what the parser kept before classifying it."""
        if page.name not in self.text:
            raise RefusedError("the product refused the page")
        return [self.text[page.name]]


def _problem(body: str) -> str:
    try:
        detail = json.loads(body).get("detail", body)
    except (ValueError, AttributeError):
        detail = body
    return str(detail)[:300]


@contextmanager
def product_over_http(encoder: Literal["hashing", "real"] = "hashing") -> Iterator[ProductOverHttp]:
    """A started app on a temporary store, ready (the model loaded, the default article in)."""
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as tmp:
        settings = bench_settings(Path(tmp) / "data")

        def factory(s: Settings) -> Encoder:
            return HashingEncoder() if encoder == "hashing" else real_encoder(s)

        app = create_app(settings, factory)
        with TestClient(app, client=("127.0.0.1", 50000)) as client:
            if not app.state.runtime.ready.wait(600):
                raise SystemExit("the app did not become ready in 10 minutes")
            yield ProductOverHttp(client)


# --- running and reporting --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageResult:
    name: str
    split: Split
    overlap: Overlap
    ms: float
    refused: str | None = None

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "page": self.name,
            "split": self.split,
            "p": round(self.overlap.precision, 4),
            "r": round(self.overlap.recall, 4),
            "f1": round(self.overlap.f1, 4),
            "candidate_shingles": self.overlap.candidate,
            "reference_shingles": self.overlap.reference,
            "ms": round(self.ms, 1),
        }
        if self.refused is not None:
            out["refused"] = self.refused
        return out


def extract(extractor: Extractor, page: Page) -> PageResult:
    """Run one extractor on one page and score it; an exception or no words is a refusal."""
    started = time.perf_counter()
    refused: str | None = None
    try:
        words = tokens(" ".join(extractor(page)))
        if not words:
            refused = "no text"
    except RefusedError as exc:
        refused, words = str(exc), []
    except Exception as exc:  # a library failing on a page is a result, not a crash
        refused, words = f"{type(exc).__name__}: {exc}"[:300], []
    ms = (time.perf_counter() - started) * 1000
    return PageResult(page.name, page.split, score(words, page.reference), ms, refused)


def summarize(results: Sequence[PageResult]) -> dict[str, Any]:
    """Micro P/R/F1 (shingles summed), macro F1 (mean of pages), refusals and ms per page."""
    if not results:
        return {"pages": 0}
    total = sum((r.overlap for r in results), Overlap(0, 0, 0))
    ms = [r.ms for r in results]
    return {
        "pages": len(results),
        "p": round(total.precision, 4),
        "r": round(total.recall, 4),
        "f1": round(total.f1, 4),
        "macro_f1": round(statistics.fmean(r.overlap.f1 for r in results), 4),
        "refused": sum(r.refused is not None for r in results),
        "ms_p50": round(statistics.median(ms), 1),
        "ms_p90": round(percentile(ms, 0.9), 1),
    }


def report(results: Sequence[PageResult]) -> dict[str, Any]:
    """One extractor's figures overall and per split, and the pages it refused."""
    out = summarize(results)
    for split in ("tune", "held-out"):
        out[split] = summarize([r for r in results if r.split == split])
    out["refusals"] = {r.name: r.refused for r in results if r.refused is not None}
    return out


def _misses(page: Page, kept: list[str]) -> dict[str, list[str]]:
    """For a diagnosis: the longest kept pieces that share no shingle with the reference (kept
    but not article text) and the longest reference blocks the kept text mostly lacks."""
    ref = shingles(page.reference)
    kept_words = tokens(" ".join(kept))
    cand = shingles(kept_words)
    spurious = [s for s in kept if (sh := shingles(tokens(s))) and not (sh & ref)]
    dropped = []
    for block in html_blocks(page.expected_html):
        sh = shingles(tokens(block))
        if sh.total() >= 3 and (sh & cand).total() < sh.total() / 2:
            dropped.append(block)
    longest = sorted(spurious, key=len, reverse=True)[:3]
    return {
        "kept_not_article": [s[:120] for s in longest],
        "dropped": [b[:120] for b in sorted(dropped, key=len, reverse=True)[:3]],
    }


def run(
    pages: Sequence[Page],
    extractors: Sequence[str],
    encoder: Literal["hashing", "real"] = "hashing",
    progress: bool = False,
) -> tuple[dict[str, list[PageResult]], dict[str, list[str]]]:
    """Every page through every extractor; the results per extractor, and the product's kept
    pieces per page (for the diagnosis of its worst pages)."""
    results: dict[str, list[PageResult]] = {name: [] for name in extractors}
    kept: dict[str, list[str]] = {}
    library: dict[str, Extractor] = {
        "trafilatura": trafilatura_blocks,
        "readability": readability_blocks,
    }
    wants_product = {"product", "product_text"} & set(extractors)
    with _maybe_product(bool(wants_product), encoder) as product:
        for i, page in enumerate(pages):
            if product is not None:
                result = extract(product, page)
                kept[page.name] = product.kept.get(page.name, [])
                if "product" in results:
                    results["product"].append(result)
                if "product_text" in results:
                    text = extract(product.stored_text, page)
                    # The same request: its time is the product's, not a second one.
                    results["product_text"].append(
                        PageResult(text.name, text.split, text.overlap, result.ms, text.refused)
                    )
            for name, extractor in library.items():
                if name in results:
                    results[name].append(extract(extractor, page))
            if progress:
                print(f"\rbench.extraction: {i + 1}/{len(pages)} pages", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    return results, kept


@contextmanager
def _maybe_product(
    wanted: bool, encoder: Literal["hashing", "real"]
) -> Iterator[ProductOverHttp | None]:
    if not wanted:
        yield None
        return
    with product_over_http(encoder) as product:
        yield product


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.extraction", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pages", help="comma-separated page names (default: all)")
    parser.add_argument(
        "--extractors",
        default=",".join(EXTRACTORS),
        help=f"comma-separated, of {', '.join(EXTRACTORS)} (default: all)",
    )
    parser.add_argument(
        "--encoder",
        choices=("hashing", "real"),
        default="hashing",
        help="the product's encoder: the hashing one (default; extraction does not use it) or "
        "the shipped MiniLM (minutes)",
    )
    parser.add_argument("--json", action="store_true", help="add every page's row")
    args = parser.parse_args(argv)
    extractors = [e for e in args.extractors.split(",") if e]
    if unknown := set(extractors) - set(EXTRACTORS):
        parser.error(f"unknown extractor(s) {', '.join(sorted(unknown))}; pick from {EXTRACTORS}")
    names = [n for n in args.pages.split(",") if n] if args.pages else None
    pages = load_pages(names)

    started = time.perf_counter()
    results, kept = run(pages, extractors, args.encoder, progress=sys.stderr.isatty())
    out: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench.extraction", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "data": {
            "pages": len(pages),
            "tune": sum(p.split == "tune" for p in pages),
            "held-out": sum(p.split == "held-out" for p in pages),
            "source": "Mozilla Readability test pages; bench/data/extraction/README.md",
        },
        "scoring": f"{SHINGLE}-token shingles, multiset; micro P/R/F1 over summed shingles, "
        "macro F1 the mean of pages'; a refused page scores 0",
        "encoder": args.encoder,
        "seconds": round(time.perf_counter() - started, 1),
    }
    for name in extractors:
        out[name] = report(results[name])
    if "product" in results:
        by_name = {p.name: p for p in pages}
        worst = sorted(results["product"], key=lambda r: (r.overlap.f1, r.name))[:10]
        out["product_worst"] = [
            {**r.row(), **_misses(by_name[r.name], kept.get(r.name, []))} for r in worst
        ]
    if args.json:
        out["pages"] = {name: [r.row() for r in results[name]] for name in extractors}
    print(json.dumps(out, indent=1, ensure_ascii=False))
    for name in extractors:
        figures = out[name]
        print(
            f"{name:>12}: F1 {figures['f1']:.3f} (P {figures['p']:.3f} R {figures['r']:.3f}) "
            f"macro {figures['macro_f1']:.3f}, tune {figures['tune'].get('f1')}, "
            f"held-out {figures['held-out'].get('f1')}, refused {figures['refused']}, "
            f"{figures['ms_p50']} ms/page p50",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
