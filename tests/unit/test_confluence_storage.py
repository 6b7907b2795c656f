"""Confluence storage format to sections: what a reader of the indexed text gets to see."""

from __future__ import annotations

import pytest

from services.integrations.confluence.storage import storage_to_document
from services.search.documents import Section


def sections(storage: str) -> list[Section]:
    return storage_to_document("Page", storage).sections


def texts(storage: str) -> list[str]:
    return [section.text for section in sections(storage)]


def test_headings_start_sections_named_by_their_path():
    storage = (
        "<p>Before any heading.</p>"
        "<h1>Install</h1><p>Pick a platform.</p>"
        "<h2>Linux</h2><p>Use apt.</p>"
        "<h3>Debian</h3><p>Bookworm only.</p>"
        "<h2>Mac</h2><p>Use brew.</p>"
        "<h1>Usage</h1><p>Run it.</p>"
    )
    assert [(s.heading, s.text) for s in sections(storage)] == [
        ("", "Before any heading."),
        ("Install", "Pick a platform."),
        ("Install > Linux", "Use apt."),
        ("Install > Linux > Debian", "Bookworm only."),
        ("Install > Mac", "Use brew."),
        ("Usage", "Run it."),
    ]


def test_a_deeper_heading_without_parents_and_a_skipped_level_keep_a_sensible_path():
    storage = "<h3>Notes</h3><p>a</p><h1>Top</h1><h3>Deep</h3><p>b</p><h2>Mid</h2><p>c</p>"
    assert [s.heading for s in sections(storage)] == ["Notes", "Top > Deep", "Top > Mid"]


def test_empty_sections_and_empty_headings_are_left_out():
    storage = "<h1>Empty</h1><p> </p><h1></h1><h1>Full</h1><p>text</p><h2>Also empty</h2>"
    assert [(s.heading, s.text) for s in sections(storage)] == [("Full", "text")]


def test_whitespace_collapses_but_br_breaks_the_line():
    storage = "<p>  one\n   two\t three <strong>bold</strong>ly&nbsp;&nbsp;spaced<br/>second   line</p>"
    assert texts(storage) == ["one two three boldly spaced\nsecond line"]


def test_entities_are_decoded():
    storage = "<p>Fish &amp; chips &lt;tag&gt; &ldquo;quoted&rdquo; caf&eacute; &#8364;5</p>"
    assert texts(storage) == ["Fish & chips <tag> \u201cquoted\u201d caf\u00e9 \u20ac5"]


def test_paragraphs_are_separate_blocks():
    assert texts("<p>First.</p><p>Second.</p>") == ["First.\n\nSecond."]


def test_nested_lists_one_item_per_line_with_indentation():
    storage = (
        "<ul>"
        "<li>Fruit<ul><li>Apple</li><li><p>Pear</p><ol><li>Conference</li><li>Williams</li></ol></li></ul></li>"
        "<li>Vegetables <em>(fresh)</em></li>"
        "</ul>"
    )
    assert texts(storage) == [(
        "- Fruit\n"
        "  - Apple\n"
        "  - Pear\n"
        "    1. Conference\n"
        "    2. Williams\n"
        "- Vegetables (fresh)"
    )]


def test_task_lists_show_what_is_done():
    storage = (
        "<ac:task-list>"
        "<ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status>"
        "<ac:task-body>Write docs</ac:task-body></ac:task>"
        "<ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        "<ac:task-body>Ship <strong>it</strong></ac:task-body></ac:task>"
        "</ac:task-list>"
    )
    assert texts(storage) == ["- [x] Write docs\n- [ ] Ship it"]


def test_tables_one_row_per_line_with_the_header_row():
    storage = (
        "<table><colgroup><col/><col/></colgroup><tbody>"
        "<tr><th>Setting</th><th><p>Default</p></th></tr>"
        "<tr><td>timeout</td><td><p>30</p><p>seconds</p></td></tr>"
        "<tr><td></td><td></td></tr>"
        "<tr><td>retries</td><td>3</td></tr>"
        "</tbody></table>"
    )
    assert texts(storage) == ["Setting | Default\ntimeout | 30 seconds\nretries | 3"]


def test_a_table_nested_in_a_cell_stays_inside_that_cell():
    storage = (
        "<table><tr><th>Outer</th><td><table><tr><td>inner a</td><td>inner b</td></tr></table></td></tr></table>"
    )
    assert texts(storage) == ["Outer | inner a inner b"]


CODE = (
    '<ac:structured-macro ac:name="code" ac:schema-version="1" ac:macro-id="7f3a">'
    '<ac:parameter ac:name="language">python</ac:parameter>'
    '<ac:parameter ac:name="title">Example</ac:parameter>'
    "<ac:plain-text-body><![CDATA[def greet(name):\n\n    if name  and  x < 3 & y:\n"
    '        return f"hi {name}"   # &amp; stays literal\n]]></ac:plain-text-body>'
    "</ac:structured-macro>"
)


def test_code_macro_is_fenced_with_its_language_and_kept_verbatim():
    assert texts("<h1>Code</h1>" + CODE) == [(
        "```python\n"
        "def greet(name):\n"
        "\n"
        "    if name  and  x < 3 & y:\n"
        '        return f"hi {name}"   # &amp; stays literal\n'
        "```"
    )]


def test_code_split_across_cdata_sections_is_joined():
    """Confluence stores a literal ]]> as ]]]]><![CDATA[> ."""
    storage = (
        '<ac:structured-macro ac:name="code"><ac:plain-text-body>'
        "<![CDATA[if a[b[0]]]]><![CDATA[> 1:\n    pass]]></ac:plain-text-body></ac:structured-macro>"
    )
    assert texts(storage) == ["```\nif a[b[0]]> 1:\n    pass\n```"]


def test_noformat_and_pre_are_fenced_without_language():
    storage = (
        '<ac:structured-macro ac:name="noformat"><ac:plain-text-body><![CDATA[  raw   text]]>'
        "</ac:plain-text-body></ac:structured-macro><pre>line 1\n  line 2</pre>"
    )
    assert texts(storage) == ["```\n  raw   text\n```\n\n```\nline 1\n  line 2\n```"]


def test_code_inside_a_list_item_follows_the_item():
    storage = (
        '<ol><li>Install:<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>'
        "<ac:plain-text-body><![CDATA[pip install x]]></ac:plain-text-body></ac:structured-macro></li>"
        "<li>Run it</li></ol>"
    )
    assert texts(storage) == ["1. Install:\n  ```bash\n  pip install x\n  ```\n2. Run it"]


@pytest.mark.parametrize("macro", ["info", "note", "warning", "tip", "panel", "expand"])
def test_rich_text_macros_keep_their_title_and_body(macro):
    storage = (
        f'<ac:structured-macro ac:name="{macro}"><ac:parameter ac:name="title">Careful</ac:parameter>'
        "<ac:rich-text-body><p>Back up <strong>first</strong>.</p><ul><li>disk</li><li>db</li></ul>"
        "</ac:rich-text-body></ac:structured-macro>"
    )
    assert texts(storage) == ["Careful\n\nBack up first.\n\n- disk\n- db"]


def test_headings_inside_a_macro_body_start_sections():
    storage = (
        '<h1>Guide</h1><ac:structured-macro ac:name="expand"><ac:rich-text-body>'
        "<h2>Details</h2><p>Hidden text.</p></ac:rich-text-body></ac:structured-macro>"
    )
    assert [(s.heading, s.text) for s in sections(storage)] == [("Guide > Details", "Hidden text.")]


def test_links_keep_their_text_and_page_links_fall_back_to_the_title():
    storage = (
        '<p>See <a href="https://example.com">the site</a>, '
        '<ac:link><ri:page ri:content-title="Setup Guide"/><ac:plain-text-link-body><![CDATA[setup]]>'
        "</ac:plain-text-link-body></ac:link>, "
        '<ac:link><ri:page ri:content-title="Release Notes"/></ac:link> and '
        '<ac:link><ri:attachment ri:filename="spec.pdf"/></ac:link>.</p>'
    )
    assert texts(storage) == ["See the site, setup, Release Notes and spec.pdf."]


def test_images_keep_alt_text_and_emoticons_mentions_and_placeholders_are_dropped():
    storage = (
        '<p>Hello <ac:emoticon ac:name="smile"/><ac:link><ri:user ri:userkey="8a7f"/></ac:link>'
        "<ac:placeholder>Type here</ac:placeholder></p>"
        '<p><ac:image ac:alt="Architecture diagram"><ri:attachment ri:filename="arch.png"/></ac:image></p>'
        '<p><ac:image><ri:url ri:value="https://example.com/x.png"/></ac:image></p>'
    )
    assert texts(storage) == ["Hello\n\nArchitecture diagram"]


def test_inline_macros_give_their_title_and_unknown_macros_nothing():
    storage = (
        '<p>State: <ac:structured-macro ac:name="status"><ac:parameter ac:name="colour">Green</ac:parameter>'
        '<ac:parameter ac:name="title">DONE</ac:parameter></ac:structured-macro></p>'
        '<ac:structured-macro ac:name="toc"><ac:parameter ac:name="maxLevel">2</ac:parameter></ac:structured-macro>'
        '<p>Due <time datetime="2026-12-01"/></p>'
    )
    assert texts(storage) == ["State: DONE\n\nDue 2026-12-01"]


def test_layouts_are_transparent():
    storage = (
        "<ac:layout><ac:layout-section ac:type=\"two_equal\">"
        "<ac:layout-cell><h2>Left</h2><p>L text</p></ac:layout-cell>"
        "<ac:layout-cell><h2>Right</h2><p>R text</p></ac:layout-cell>"
        "</ac:layout-section></ac:layout>"
    )
    assert [(s.heading, s.text) for s in sections(storage)] == [("Left", "L text"), ("Right", "R text")]


@pytest.mark.parametrize(
    "storage",
    ["", "   ", "<p></p><p>&nbsp;</p>", '<ac:structured-macro ac:name="toc"/>', "<h1>Only a title</h1>",
     '<p><ac:emoticon ac:name="tick"/></p><!-- a comment -->'],
)
def test_a_page_without_text_has_no_sections(storage):
    document = storage_to_document("Empty", storage, metadata={"space": "ENG"})
    assert document.sections == []
    assert document.text_length == 0


def test_document_carries_title_media_type_and_a_copy_of_the_metadata():
    metadata = {"space": "ENG", "page_id": "1001"}
    document = storage_to_document("Runbook", "<p>x</p>", metadata=metadata)
    metadata["space"] = "changed"
    assert (document.title, document.media_type, document.metadata) == (
        "Runbook", "text/html", {"space": "ENG", "page_id": "1001"})
