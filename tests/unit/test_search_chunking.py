"""Chunks stay inside their section, fit the size, overlap a little at word or sentence
starts, point back at their source text, and come out the same every time."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from services.search.chunking import Chunk, chunk_document, embedding_text
from services.search.documents import ParsedDocument, Section

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "kappa", "lambda", "sigma", "omega")


def prose(seed: int, paragraphs: int = 8) -> str:
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 18))).capitalize() + rng.choice(".!?")

    return "\n\n".join(" ".join(sentence() for _ in range(rng.randint(1, 6))) for _ in range(paragraphs))


def document(*sections: Section) -> ParsedDocument:
    return ParsedDocument(title="Guide", sections=list(sections), media_type="text/plain")


def by_section(chunks: list[Chunk], number: int) -> list[Chunk]:
    return [chunk for chunk in chunks if chunk.section == number]


@pytest.fixture
def doc() -> ParsedDocument:
    code = "```python\n" + "\n".join(f"value_{i} = compute(i={i}). Then more(text)" for i in range(60)) + "\n```"
    return document(Section("Intro", prose(1)), Section("Intro > Setup", "Short one.", page=2),
                    Section("Intro > Code", code, page=3), Section("Reference", prose(2, 20), page=4))


def test_offsets_point_at_the_chunk_text(doc):
    for chunk in chunk_document(doc, max_chars=300, overlap=60):
        assert doc.sections[chunk.section].text[chunk.start:chunk.end] == chunk.text


def test_no_chunk_crosses_a_section(doc):
    chunks = chunk_document(doc, max_chars=300, overlap=60)
    for chunk in chunks:
        section = doc.sections[chunk.section]
        assert (chunk.heading, chunk.page) == (section.heading, section.page)
    assert [c.section for c in chunks] == sorted(c.section for c in chunks)
    assert {c.section for c in chunks} == {0, 1, 2, 3}
    assert [c.text for c in by_section(chunks, 1)] == ["Short one."]


def test_ordinals_run_over_the_whole_document(doc):
    chunks = chunk_document(doc, max_chars=300, overlap=60)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize(("max_chars", "overlap"), [(200, 0), (300, 60), (1000, 150), (2000, 400)])
def test_chunks_fit_and_cover_the_section(doc, max_chars, overlap):
    chunks = chunk_document(doc, max_chars=max_chars, overlap=overlap)
    assert all(0 < len(c.text) <= max_chars for c in chunks)
    for number, section in enumerate(doc.sections):
        mine = by_section(chunks, number)
        assert mine[0].start == 0 and mine[-1].end == len(section.text.rstrip())
        for before, after in pairwise(mine):
            gap = section.text[before.end:after.start]
            assert after.start <= before.end or not gap.strip(), "text was skipped between chunks"


def test_consecutive_chunks_overlap_by_about_the_overlap(doc):
    chunks = by_section(chunk_document(doc, max_chars=400, overlap=100), 3)
    assert len(chunks) > 3
    for before, after in pairwise(chunks):
        shared = before.end - after.start
        assert 100 // 3 <= shared <= 100
        assert before.start < after.start


def test_overlap_starts_at_a_sentence_or_word_start(doc):
    text = doc.sections[3].text
    for chunk in by_section(chunk_document(doc, max_chars=400, overlap=100), 3)[1:]:
        assert text[chunk.start - 1].isspace() and not text[chunk.start].isspace()


def test_chunks_end_at_a_word_end_and_prefer_sentence_ends(doc):
    text = doc.sections[3].text
    chunks = by_section(chunk_document(doc, max_chars=400, overlap=100), 3)
    for chunk in chunks:
        assert chunk.end == len(text) or text[chunk.end].isspace()
    assert all(chunk.text.endswith((".", "!", "?")) for chunk in chunks)


def test_paragraph_breaks_win_over_sentence_ends():
    paragraphs = [f"Sentence number {i} is here. " * 9 for i in range(6)]  # ~250 chars each
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = chunk_document(document(Section("", text)), max_chars=600, overlap=0)
    for chunk in chunks[:-1]:
        assert text[chunk.end:chunk.end + 2] == "\n\n"


def test_code_is_cut_between_lines(doc):
    text = doc.sections[2].text
    chunks = by_section(chunk_document(doc, max_chars=300, overlap=60), 2)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.end == len(text) or text[chunk.end] == "\n"
        assert chunk.start == 0 or text[chunk.start - 1] == "\n"


def test_a_token_longer_than_the_limit_is_cut_hard_without_overlap():
    token = "x" * 2500
    chunks = chunk_document(document(Section("", f"short {token} tail")), max_chars=1000, overlap=150)
    assert [c.text for c in chunks] == ["short", "x" * 1000, "x" * 1000, "x" * 500 + " tail"]


def test_the_output_is_deterministic(doc):
    assert chunk_document(doc) == chunk_document(doc)
    assert chunk_document(doc, max_chars=250, overlap=40) == chunk_document(doc, max_chars=250, overlap=40)


def test_whitespace_at_the_edges_is_not_part_of_a_chunk():
    chunks = chunk_document(document(Section("", "\n\n   Hello there.   \n")))
    assert [(c.text, c.start, c.end) for c in chunks] == [("Hello there.", 5, 17)]


def test_an_empty_document_has_no_chunks():
    assert chunk_document(document()) == []


@pytest.mark.parametrize(("max_chars", "overlap"), [(10, 0), (1000, 500), (1000, -1)])
def test_settings_that_cannot_advance_are_refused(max_chars, overlap):
    with pytest.raises(ValueError):
        chunk_document(document(Section("", "text")), max_chars=max_chars, overlap=overlap)


def test_embedding_text_carries_title_and_heading():
    chunk = Chunk(ordinal=0, heading="Install > Linux", text="Run it.", page=None, start=0, end=7, section=0)
    assert embedding_text("LLMCoder Guide", chunk) == "LLMCoder Guide — Install > Linux\nRun it."


def test_embedding_text_says_a_title_heading_once():
    chunk = Chunk(ordinal=0, heading="Guide > Install", text="Run it.", page=None, start=0, end=7, section=0)
    assert embedding_text("Guide", chunk) == "Guide > Install\nRun it."
    bare = Chunk(ordinal=0, heading="", text="Run it.", page=1, start=0, end=7, section=0)
    assert embedding_text("Guide", bare) == "Guide\nRun it."
    assert embedding_text("", bare) == "Run it."
