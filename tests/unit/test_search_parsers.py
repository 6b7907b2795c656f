"""Uploads are typed by their content and parsed into heading-path sections; every broken,
empty, oversized or binary file ends in a DocumentError a user can read."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from services.search import parsers
from services.search.documents import DocumentError
from services.search.parsers import MAX_UPLOAD_BYTES, parse_bytes, parse_path, sniff
from tests.doc_samples import (
    blank_pdf_bytes,
    encrypted_pdf_bytes,
    html_doc,
    markdown_doc,
    pdf_bytes,
    png_bytes,
    with_outline,
    zip_bytes,
)

MB = 1024 * 1024


def headings(document) -> list[str]:
    return [section.heading for section in document.sections]


def text_under(document, heading: str) -> str:
    return next(section.text for section in document.sections if section.heading == heading)


# --- sniffing ----------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "filename", "expected"), [
    (pdf_bytes(["Hi"]), "notes.txt", "application/pdf"),
    (b"\n  <!DOCTYPE html><title>x</title><p>hi", "page.txt", "text/html"),
    (b"\xef\xbb\xbf<HTML><BODY>Hi</BODY></HTML>", "", "text/html"),
    (b"<div><p>a</p><p>b</p><p>c</p><ul><li>d</li></ul></div>", "fragment", "text/html"),
    (b'<p align="center"><img src="logo.png"></p>\n\n# Project\n\nText.', "README", "text/markdown"),
    (b"# Title\n\nSome text.", "notes.txt", "text/markdown"),
    (b"Intro\n\n```python\nprint(1)\n```\n", "", "text/markdown"),
    (b"- one\n- two\n\nSee [the docs](https://example.com).", "", "text/markdown"),
    (b"Just a sentence of notes.", "notes.md", "text/markdown"),
    (b"Just a sentence of notes.", "notes.txt", "text/plain"),
    (b"Title\n=====\n\n- item\n- item\n", "notes.rst", "text/plain"),
    (b"MZ is where the meeting is.", "", "text/plain"),
    ("# Überschrift\n\nGrüße".encode("utf-16"), "", "text/markdown"),
    ("caf\xe9 cr\xe8me br\xfbl\xe9e \u201cquoted\u201d".encode("cp1252"), "menu", "text/plain"),
    (b"A README that talks about <p> tags and <div> in prose.", "", "text/plain"),
])
def test_the_type_comes_from_the_content(data, filename, expected):
    assert sniff(data, filename) == expected


@pytest.mark.parametrize(("data", "kind"), [
    (png_bytes(), "a PNG image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image"),
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "a GIF image"),
    (zip_bytes({"word/document.xml": "<w/>"}), "a ZIP archive"),
    (gzip.compress(b"hello"), "a gzip archive"),
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "a Windows program"),
    (b"\x7fELF\x02\x01\x01\x00", "a Linux program"),
    (bytes(range(256)) * 4, "a binary file"),
    (b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f abc \x10\x11\x12\x13\xfe\xfd", "a binary file"),
])
def test_binary_files_are_refused_by_what_they_look_like(data, kind):
    with pytest.raises(DocumentError, match=f"photo.pdf looks like {kind}"):
        sniff(data, "photo.pdf")


def test_a_png_renamed_to_pdf_is_refused_not_parsed():
    with pytest.raises(DocumentError) as error:
        parse_bytes(png_bytes(), "scan.pdf")
    assert str(error.value) == "scan.pdf looks like a PNG image, not a document."


# --- size and emptiness ------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  "])
def test_empty_files_are_refused(data):
    with pytest.raises(DocumentError, match=r"^notes.txt is empty$"):
        parse_bytes(data, "notes.txt")


def test_an_oversized_upload_is_refused_with_its_size():
    data = b"a" * int(30.2 * MB)
    with pytest.raises(DocumentError, match=r"^big.txt is 30.2 MB; the limit is 25 MB$"):
        parse_bytes(data, "big.txt")


def test_exactly_the_limit_is_accepted():
    document = parse_bytes(b"word " * (MAX_UPLOAD_BYTES // 5), "limit.txt")
    assert document.text_length > 0


def test_parse_path_checks_the_size_before_reading(tmp_path, monkeypatch):
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as handle:
        handle.truncate(26 * MB)  # sparse: no disk used

    def refuse(self):
        raise AssertionError("an oversized file was read")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DocumentError, match="huge.pdf is 26.0 MB; the limit is 25 MB"):
        parse_path(huge)


def test_parse_path_reads_a_file_and_reports_a_missing_one(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(markdown_doc(), encoding="utf-8")
    assert parse_path(path).title == "User Guide"
    with pytest.raises(DocumentError, match="gone.md could not be read"):
        parse_path(tmp_path / "gone.md")


def test_a_document_without_readable_text_is_refused():
    with pytest.raises(DocumentError, match="app.html has no readable text"):
        parse_bytes(b"<html><body><script>alert(1)</script><nav>menu</nav></body></html>", "app.html")


# --- PDF -----------------------------------------------------------------------------------

def test_a_pdf_gives_one_section_per_page_with_its_number():
    document = parse_bytes(pdf_bytes(["First page\nsecond line", "Page (two)"], title="Design Notes"), "x.pdf")
    assert document.media_type == "application/pdf"
    assert document.title == "Design Notes"
    assert [(s.page, s.text) for s in document.sections] == [(1, "First page\nsecond line"), (2, "Page (two)")]
    assert document.metadata["pages"] == "2"


def test_a_pdf_without_a_title_is_named_after_the_file():
    assert parse_bytes(pdf_bytes(["Hello"]), "quarterly-report.pdf").title == "quarterly-report"


def test_blank_pages_are_left_out_but_keep_the_numbering():
    document = parse_bytes(pdf_bytes(["One", "", "Three"]), "x.pdf")
    assert [s.page for s in document.sections] == [1, 3]


def test_pdf_bookmarks_become_page_headings():
    pdf = with_outline(pdf_bytes(["intro", "part a", "details", "more details"]),
                       [("Intro", 0, None), ("Part A", 1, None), ("Details", 2, "Part A")])
    assert headings(parse_bytes(pdf, "x.pdf")) == ["Intro", "Part A", "Part A > Details", "Part A > Details"]


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_truncated_pdf_is_refused(cut):
    data = pdf_bytes(["Some text on a page"] * 3)
    with pytest.raises(DocumentError, match=r"^cut.pdf could not be read as a PDF: \S"):
        parse_bytes(data[: int(len(data) * cut)], "cut.pdf")


def test_a_pdf_with_garbage_inside_is_refused():
    with pytest.raises(DocumentError, match="could not be read as a PDF"):
        parse_bytes(b"%PDF-1.7\n" + b"\x00\x01garbage\xff" * 200, "junk.pdf")


def test_a_pdf_without_a_text_layer_says_so():
    with pytest.raises(DocumentError, match="scan.pdf has no text layer.*OCR is not supported"):
        parse_bytes(blank_pdf_bytes(), "scan.pdf")


def test_a_password_protected_pdf_is_refused():
    with pytest.raises(DocumentError, match="locked.pdf could not be read as a PDF: it is protected by a password"):
        parse_bytes(encrypted_pdf_bytes(), "locked.pdf")


def test_a_pdf_encrypted_with_an_empty_user_password_opens():
    document = parse_bytes(encrypted_pdf_bytes("Open sesame", password=""), "open.pdf")
    assert document.sections[0].text == "Open sesame"


# --- HTML ----------------------------------------------------------------------------------

def test_html_drops_page_chrome_and_scripts():
    document = parse_bytes(html_doc().encode(), "deploy.html")
    everything = "\n".join(s.heading + "\n" + s.text for s in document.sections)
    for gone in ("tracking-code", "color: red", "Docs navigation", "Site banner", "Copyright footer",
                 "Enable JavaScript"):
        assert gone not in everything


def test_html_sections_follow_the_heading_tree():
    document = parse_bytes(html_doc().encode(), "deploy.html")
    assert document.media_type == "text/html"
    assert document.title == "Deploy Guide"
    assert headings(document) == ["Deploying", "Deploying > Linux", "Deploying > Linux > Ports",
                                  "Deploying > Windows"]
    assert text_under(document, "Deploying") == "Read this before you deploy."
    assert text_under(document, "Deploying > Windows") == "Use WSL."


def test_html_lists_tables_and_code_are_readable():
    linux = text_under(parse_bytes(html_doc().encode(), "d.html"), "Deploying > Linux")
    assert "- Debian\n  - bookworm\n- Fedora" in linux
    assert "apt-get install llmcoder\n  systemctl start llmcoder" in linux  # verbatim, indent kept
    ports = text_under(parse_bytes(html_doc().encode(), "d.html"), "Deploying > Linux > Ports")
    assert ports == "Port | Use\n3000 | web"


def test_html_title_falls_back_to_the_first_h1_then_the_file_name():
    assert parse_bytes(b"<body><h1>Release  Notes</h1><p>x</p></body>", "r.html").title == "Release Notes"
    assert parse_bytes(b"<html><body><p>Only text</p></body></html>", "page.htm").title == "page"


def test_a_txt_file_that_is_really_html_is_parsed_as_html():
    document = parse_bytes(b"<!doctype html><html><body><h1>Hi</h1><script>x()</script><p>There</p></body></html>",
                           "saved.txt")
    assert document.media_type == "text/html"
    assert [(s.heading, s.text) for s in document.sections] == [("Hi", "There")]


def test_html_source_line_breaks_are_spaces_but_br_breaks_a_line():
    document = parse_bytes(b"<p>one<br>two  three\nfour</p><p>five</p>", "f.html")
    assert document.sections[0].text == "one\ntwo three four\n\nfive"


def test_ordered_lists_are_numbered():
    document = parse_bytes(b"<html><body><ol><li>First</li><li>Second</li></ol></body></html>", "l.html")
    assert document.sections[0].text == "1. First\n2. Second"


# --- Markdown ------------------------------------------------------------------------------

def test_markdown_sections_have_heading_paths():
    document = parse_bytes(markdown_doc().encode(), "guide.md")
    assert document.media_type == "text/markdown"
    assert document.title == "User Guide"
    assert headings(document) == ["User Guide", "User Guide > Install", "User Guide > Install > Linux",
                                  "User Guide > Setext Heading", "Appendix"]
    assert text_under(document, "Appendix") == "- item one\n- item two"


def test_fenced_code_is_kept_verbatim_with_its_language():
    document = parse_bytes(markdown_doc().encode(), "guide.md")
    assert text_under(document, "User Guide > Install > Linux") == (
        "```bash\n# not a heading: this is inside a fence\n./scripts/install --prefix /opt\n```")


def test_markdown_without_an_h1_is_named_after_the_file_and_front_matter_is_dropped():
    source = "---\ntitle: ignored\nlayout: page\n---\n## Setup\n\nSteps.\n"
    document = parse_bytes(source.encode(), "setup-notes.md")
    assert document.title == "setup-notes"
    assert [(s.heading, s.text) for s in document.sections] == [("Setup", "Steps.")]


def test_headings_inside_block_quotes_do_not_split():
    document = parse_bytes(b"# Top\n\n> # quoted\n> text\n", "q.md")
    assert [(s.heading, s.text) for s in document.sections] == [("Top", "> # quoted\n> text")]


def test_inline_markup_is_removed_from_headings():
    document = parse_bytes(b"# Using `pip` *quickly*\n\nbody\n", "x.md")
    assert document.sections[0].heading == "Using pip quickly"


# --- plain text ----------------------------------------------------------------------------

def test_utf16_text_is_decoded():
    document = parse_bytes("Grüße aus Köln, naïve café".encode("utf-16"), "greeting.txt")
    assert document.media_type == "text/plain"
    assert document.sections[0].text == "Grüße aus Köln, naïve café"
    assert document.title == "greeting"


def test_cp1252_text_is_decoded():
    document = parse_bytes("\u201cquoted\u201d caf\xe9".encode("cp1252"), "old.txt")
    assert document.sections[0].text == "\u201cquoted\u201d caf\xe9"


def test_plain_text_splits_only_at_clear_headings():
    source = ("Preface line.\n\n=====\nSetup\n=====\n\nDo this.\n\nNetwork\n-------\n\nPorts.\n\n"
              "3.1 Storage Layout\n\nDisks.\n\n1 Item one\n\n2 Item two\n")
    document = parse_bytes(source.encode(), "manual.rst")
    assert document.media_type == "text/plain"
    assert [(s.heading, s.text) for s in document.sections] == [
        ("", "Preface line."), ("Setup", "Do this."), ("Setup > Network", "Ports."),
        ("Setup > 3.1 Storage Layout", "Disks.\n\n1 Item one\n\n2 Item two"),
    ]


def test_plain_text_without_headings_is_one_section():
    document = parse_bytes(b"Line one.\r\nLine two.\r\n\r\n\r\n\r\nLater.  \n", "n.txt")
    assert [(s.heading, s.text) for s in document.sections] == [("", "Line one.\nLine two.\n\nLater.")]


def test_supported_suffixes_cover_the_folder_walk_types():
    assert {".pdf", ".html", ".htm", ".md", ".markdown", ".txt", ".rst"} <= parsers.SUPPORTED_SUFFIXES
