"""The library end to end with the hashing encoder: ingest, ask, rebuild, default, delete."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

import index.library as library_module
from index.encoder import HashingEncoder
from index.library import DEFAULT_ID, DEFAULT_TITLE, Library, new_id
from index.store import valid_id
from qa.article import parse_text
from qa.compose import NOT_IN_ARTICLE
from qa.errors import ArticleNotFoundError, ArticleTooLargeError, IndexMismatchError
from tests.index.conftest import CountingEncoder, make_library, stored_row, tamper

STORY = """City Opens New Library Branch

The city council approved a new budget for the coming year on Monday.

The new library branch downtown will open next spring, the head librarian said.

Volcanic ash from the eruption grounded flights at the regional airport for two days.

By Jane Doe"""
GROUNDED = "Why were flights grounded at the airport?"


def test_ingest_and_ask_cites_the_matching_sentence(library: Library) -> None:
    indexed = library.ingest(STORY)
    assert indexed.article.title == "City Opens New Library Branch"
    answer = library.ask("Why were flights grounded at the airport?", indexed.id)
    assert answer.answerable
    first = answer.citations[0]
    assert "Volcanic ash" in first.quote.text
    assert "flights" in first.quote.text
    assert answer.text.startswith(first.quote.text + " [1]")
    text = indexed.article.text
    for citation in answer.citations:
        assert text[citation.quote.start : citation.quote.end] == citation.quote.text
        assert citation.quote.text in citation.passage.text


def test_ask_never_cites_headings(library: Library) -> None:
    indexed = library.ingest(STORY)
    answer = library.ask("City opens new library branch", indexed.id, top_k=10)
    quotes = [c.quote.text for c in answer.citations]
    assert "City Opens New Library Branch" not in quotes
    assert len(quotes) == 4  # three body sentences and the byline
    assert any("library branch downtown" in q for q in quotes)


def test_ask_the_byline(library: Library) -> None:
    indexed = library.ingest(STORY)
    answer = library.ask("Who wrote this article?", indexed.id)
    assert answer.citations[0].quote.text == "By Jane Doe"


def test_unrelated_question_is_declined(library: Library) -> None:
    indexed = library.ingest(STORY)
    answer = library.ask("quantum chromodynamics gluon", indexed.id)
    assert not answer.answerable
    assert answer.text == NOT_IN_ARTICLE


def test_top_k(library: Library) -> None:
    indexed = library.ingest(STORY)
    assert len(library.ask("library", indexed.id, top_k=2).citations) == 2
    assert len(library.ask("library", indexed.id, top_k=1).citations) == 1


def test_html_ingest(library: Library) -> None:
    html = (
        "<html><head><title>Ash Cloud</title><script>var x = 'volcanic';</script></head><body>"
        "<p>Volcanic ash grounded flights for two days.</p><p>Schools stayed open.</p>"
        "</body></html>"
    )
    indexed = library.ingest(html, html=True)
    assert indexed.article.title == "Ash Cloud"
    answer = library.ask("volcanic ash flights", indexed.id)
    assert answer.citations[0].quote.text == "Volcanic ash grounded flights for two days."


def test_a_new_library_loads_without_re_embedding(data_dir: Path, library: Library) -> None:
    indexed = library.ingest(STORY)
    again = CountingEncoder()
    reopened = make_library(data_dir, again)
    answer = reopened.ask("Why were flights grounded?", indexed.id)
    assert again.document_calls == 0
    assert reopened.get(indexed.id).article == indexed.article
    assert "Volcanic ash" in answer.citations[0].quote.text


@pytest.mark.parametrize("reopen_with", [{"name": "other"}, {"dim": 32}])
def test_stale_index_is_rebuilt_transparently(
    data_dir: Path, reopen_with: dict[str, str | int]
) -> None:
    first = make_library(data_dir, HashingEncoder(name="test/hashing"))
    article_id = first.ingest(STORY).id
    name = str(reopen_with.get("name", "test/hashing"))
    dim = int(reopen_with.get("dim", 64))
    counting = CountingEncoder(dim=dim, name=name)
    second = make_library(data_dir, counting)
    answer = second.ask("Why were flights grounded at the airport?", article_id)
    assert counting.document_calls == 1
    assert "Volcanic ash" in answer.citations[0].quote.text
    row = stored_row(data_dir, article_id)
    assert (row["model"], row["dim"]) == (name, dim)
    # Rebuilt once: a third library with the same encoder just loads it.
    third_encoder = CountingEncoder(dim=dim, name=name)
    make_library(data_dir, third_encoder).get(article_id)
    assert third_encoder.document_calls == 0


def test_edited_text_is_re_embedded(data_dir: Path, library: Library) -> None:
    article_id = library.ingest(STORY).id
    text = stored_row(data_dir, article_id)["text"]
    tamper(data_dir, article_id, text=text.replace("Volcanic ash", "Saharan dust"))
    counting = CountingEncoder()
    answer = make_library(data_dir, counting).ask("Saharan dust flights", article_id)
    assert counting.document_calls == 1
    assert answer.citations[0].quote.text.startswith("Saharan dust from the eruption")


def test_unreadable_article_is_an_index_mismatch(data_dir: Path, library: Library) -> None:
    good = library.ingest("A good article. It has sentences.").id
    bad = library.ingest(STORY).id
    # The blocks now point past the end of the text.
    tamper(data_dir, bad, text=stored_row(data_dir, bad)["text"][:40])
    reopened = make_library(data_dir, CountingEncoder())
    with pytest.raises(IndexMismatchError):
        reopened.get(bad)
    tamper(data_dir, bad, blocks="{broken")
    with pytest.raises(IndexMismatchError):
        reopened.get(bad)
    assert [a.id for a in reopened.articles()] == [good]


def test_ensure_default_is_idempotent(data_dir: Path, encoder: CountingEncoder) -> None:
    first = make_library(data_dir, encoder).ensure_default()
    assert encoder.document_calls == 1
    assert first.id == DEFAULT_ID
    assert first.article.title == DEFAULT_TITLE
    assert first.article.byline == "Ross Key"

    library = make_library(data_dir, encoder)
    again = library.ensure_default()
    library.ensure_default()
    assert encoder.document_calls == 1
    assert again.article == first.article

    answer = library.ask("Who wrote this article?")
    assert answer.answerable
    assert answer.citations[0].quote.text == "Written by: Ross Key"


def test_ensure_default_reindexes_when_the_bundled_text_changes(
    tmp_path: Path, data_dir: Path, encoder: CountingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = tmp_path / "default-article.txt"
    bundled.write_text("Old text says the bridge opened in May.", encoding="utf-8")
    monkeypatch.setattr(library_module, "DEFAULT_ARTICLE", bundled)
    make_library(data_dir, encoder).ensure_default()
    assert encoder.document_calls == 1

    bundled.write_text("New text says the tunnel opened in June.", encoding="utf-8")
    library = make_library(data_dir, encoder)
    indexed = library.ensure_default()
    assert encoder.document_calls == 2
    assert indexed.article.text == "New text says the tunnel opened in June."
    reopened = make_library(data_dir, CountingEncoder())
    assert reopened.get(DEFAULT_ID).article.text == "New text says the tunnel opened in June."
    assert "tunnel" in reopened.ask("When did the tunnel open?").citations[0].quote.text


def test_ensure_default_reindexes_an_edited_stored_copy(
    data_dir: Path, encoder: CountingEncoder
) -> None:
    make_library(data_dir, encoder).ensure_default()
    text = stored_row(data_dir, DEFAULT_ID)["text"]
    tamper(data_dir, DEFAULT_ID, text=text.replace("Jorge Glas", "Jorge GLAS"))
    indexed = make_library(data_dir, encoder).ensure_default()
    assert "Jorge GLAS" not in indexed.article.text
    assert "Jorge Glas" in indexed.article.text
    assert stored_row(data_dir, DEFAULT_ID)["text"] == indexed.article.text


def test_delete_then_get_raises(library: Library) -> None:
    article_id = library.ingest(STORY).id
    library.get(article_id)  # cached
    library.delete(article_id)
    assert article_id not in library.ids()
    with pytest.raises(ArticleNotFoundError):
        library.get(article_id)
    with pytest.raises(ArticleNotFoundError):
        library.ask("anything", article_id)
    with pytest.raises(ArticleNotFoundError):
        library.delete(article_id)


def test_get_unknown_or_invalid_id(library: Library) -> None:
    for bad in ("no-such-article", "../../etc/passwd", "x" * 500):
        with pytest.raises(ArticleNotFoundError):
            library.get(bad)


def test_size_limit(data_dir: Path, encoder: CountingEncoder) -> None:
    sentence = "The council met on Monday."
    library = make_library(data_dir, encoder, max_chars=len(sentence))
    assert library.ingest(sentence).article.text == sentence  # exactly at the limit is fine
    with pytest.raises(ArticleTooLargeError, match="27 characters; the limit is 26"):
        library.ingest(sentence + " ")
    with pytest.raises(ArticleTooLargeError):
        library.ingest("<p>" + sentence + "</p>", html=True)
    assert encoder.document_calls == 1
    assert len(library.ids()) == 1


def test_new_ids_are_content_derived_and_stable(library: Library) -> None:
    first = library.ingest(STORY)
    second = library.ingest(STORY)
    assert first.id == second.id
    assert library.ids() == [first.id]
    assert re.fullmatch(r"city-opens-new-library-branch-[0-9a-f]{8}", first.id)
    assert first.id == new_id(parse_text(STORY))

    changed = library.ingest(STORY.replace("two days", "three days"))
    assert changed.id != first.id
    assert changed.id.startswith("city-opens-new-library-branch-")
    retitled = library.ingest(STORY, title="Another Title")
    assert retitled.id.startswith("another-title-")
    assert sorted(library.ids()) == sorted({first.id, changed.id, retitled.id})


@pytest.mark.parametrize(
    ("title", "pattern"),
    [
        ("北京 新闻", r"[0-9a-f]{8}"),
        ("!!! ???", r"[0-9a-f]{8}"),
        ("A" * 200, r"a{40}-[0-9a-f]{8}"),
        ("Ça va — très bien", r"a-va-tr-s-bien-[0-9a-f]{8}"),
        ("  --Dashes--  ", r"dashes-[0-9a-f]{8}"),
    ],
)
def test_new_id_is_a_valid_slug(title: str, pattern: str) -> None:
    article_id = new_id(parse_text("Body text here.", title=title))
    assert re.fullmatch(pattern, article_id), article_id
    assert valid_id(article_id)


def test_explicit_id(library: Library) -> None:
    indexed = library.ingest(STORY, article_id="my-story")
    assert indexed.id == "my-story"
    assert library.ids() == ["my-story"]


def test_progress_is_reported(library: Library) -> None:
    seen: list[tuple[int, int]] = []
    library.ingest(STORY, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(5, 5)]  # heading, three body sentences and the byline


def test_edited_text_is_parsed_again(data_dir: Path, library: Library) -> None:
    article_id = library.ingest(STORY).id
    text = stored_row(data_dir, article_id)["text"].replace(
        "\n\nVolcanic", "\n\nREAD MORE: Unrelated story\n\nA ferry sank.\n\nVolcanic"
    )
    tamper(data_dir, article_id, text=text)
    reloaded = make_library(data_dir, CountingEncoder()).get(article_id)
    sentences = {s.text: s.kind.value for s in reloaded.segmentation.sentences}
    assert sentences["A ferry sank."] == "body"
    assert sentences["READ MORE: Unrelated story"] == "boilerplate"
    for sentence in reloaded.segmentation.sentences:
        assert reloaded.article.text[sentence.start : sentence.end] == sentence.text


def test_ensure_default_replaces_an_unreadable_stored_copy(data_dir: Path) -> None:
    make_library(data_dir, CountingEncoder()).ensure_default()
    tamper(data_dir, DEFAULT_ID, blocks="{broken")
    repaired = make_library(data_dir, CountingEncoder()).ensure_default()
    assert repaired.article.title == DEFAULT_TITLE
    assert make_library(data_dir, CountingEncoder()).ask("Who wrote this article?").answerable


def test_writes_by_another_process_are_seen_at_once(data_dir: Path, library: Library) -> None:
    """The CLI (another Library on the same directory) deletes or replaces; the server sees it."""
    article_id = library.ingest(STORY, article_id="story").id
    assert "Volcanic ash" in library.ask(GROUNDED, article_id).citations[0].quote.text
    with make_library(data_dir, CountingEncoder()) as cli:
        cli.ingest(STORY.replace("Volcanic ash", "Thick fog"), article_id="story")
    assert "Thick fog" in library.ask(GROUNDED, article_id).citations[0].quote.text
    with make_library(data_dir, CountingEncoder()) as cli:
        cli.delete(article_id)
    with pytest.raises(ArticleNotFoundError):
        library.ask(GROUNDED, article_id)


def test_articles_in_the_old_directory_layout_are_carried_over(
    data_dir: Path, encoder: CountingEncoder
) -> None:
    folder = data_dir / "articles" / "old-story"
    folder.mkdir(parents=True)
    article = parse_text(STORY)
    data = {
        "id": "old-story",
        "title": article.title,
        "created": "2024-01-01T00:00:00+00:00",
        "text": article.text,
        "blocks": [[b.start, b.end, b.kind.value] for b in article.blocks],
    }
    (folder / "article.json").write_text(json.dumps(data), encoding="utf-8")
    library = make_library(data_dir, encoder)
    assert library.ids() == ["old-story"]
    assert "Volcanic ash" in library.ask(GROUNDED, "old-story").citations[0].quote.text
    assert encoder.document_calls == 1  # embedded once, on first use
    assert make_library(data_dir, CountingEncoder()).ids() == ["old-story"]


def test_an_article_deleted_while_the_list_is_read_is_left_out(
    data_dir: Path, encoder: CountingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another replica may delete an article between reading the ids and loading them: the list
    leaves it out (GET /v1/articles once answered 404 then, in the fleet soak)."""
    library = make_library(data_dir, encoder)
    kept = library.ingest(STORY, article_id="kept").id
    gone = library.ingest(STORY, article_id="gone").id
    ids = library.ids()
    with make_library(data_dir, CountingEncoder()) as other:
        other.delete(gone)
    monkeypatch.setattr(library, "ids", lambda: ids)
    assert [a.id for a in library.articles()] == [kept]


def test_asks_during_concurrent_ingests_and_deletes(library: Library) -> None:
    """Readers see each article whole and only ever the one they asked about."""
    stable = library.ingest(STORY, article_id="stable").id
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        for n in range(30):
            library.ingest(f"Churn story {n}. The mayor cut a ribbon.", article_id="churn")
            if n % 2:
                library.delete("churn")
        stop.set()

    def reader() -> None:
        while not stop.is_set():
            try:
                answer = library.ask(GROUNDED, stable)
                assert "Volcanic ash" in answer.citations[0].quote.text
                try:
                    churn = library.ask("Who cut a ribbon?", "churn")
                except ArticleNotFoundError:
                    continue
                assert "ribbon" in churn.citations[0].quote.text
            except BaseException as exc:  # collected and re-raised in the test thread
                errors.append(exc)
                stop.set()

    threads = [threading.Thread(target=reader) for _ in range(4)] + [
        threading.Thread(target=writer)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors[0]


def test_rebuild_stale_finds_vectors_of_another_model_without_a_reader(
    data_dir: Path, library: Library
) -> None:
    library.ingest(STORY, article_id="story")
    library.ingest("A second story. It is short.", article_id="short")
    tamper(data_dir, "short", vectors=b"")
    counting = CountingEncoder(name="other/model")
    reopened = make_library(data_dir, counting)
    assert reopened.rebuild_stale() == 2
    assert counting.document_calls == 2
    assert reopened.rebuild_stale() == 0
    assert stored_row(data_dir, "story")["model"] == "other/model"


def test_search_across_every_article(library: Library) -> None:
    library.ingest(STORY, article_id="story")
    library.ingest("Harbour News\n\nThe ferry to the island sank in a storm.", article_id="ferry")
    hits = library.search("ferry sank storm", top_k=2)
    assert (hits[0].article_id, hits[0].sentence.text) == (
        "ferry",
        "The ferry to the island sank in a storm.",
    )
    assert all(h.sentence.kind.citable for h in hits)  # never the "Harbour News" heading
    assert hits[0].score >= hits[-1].score
    library.delete("ferry")  # the archive index follows writes
    assert all(h.article_id == "story" for h in library.search("ferry sank storm", top_k=3))


def test_search_an_empty_archive(library: Library) -> None:
    assert library.search("anything") == []


def test_loaded_follows_the_stored_revision(data_dir: Path, library: Library) -> None:
    assert library.loaded("story") is None
    indexed = library.ingest(STORY, article_id="story")
    assert library.loaded("story") is indexed
    with make_library(data_dir, CountingEncoder()) as other:
        other.ingest(STORY.replace("two days", "three days"), article_id="story")
    assert library.loaded("story") is None  # written elsewhere: the next ask reloads it
    assert library.loaded("story") is None
    reloaded = library.get("story")
    assert library.loaded("story") is reloaded and "three days" in reloaded.article.text
