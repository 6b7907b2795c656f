"""Mail HTML shown in the browser: script vectors gone, remote and cid: images blocked and
counted (remote ones shown when asked), data: images kept, links made safe; and the text of
mail HTML for previews and prompts."""

from __future__ import annotations

import re

import pytest

from services.inbox.sanitize import CleanHtml, clean_html, html_to_text

LINK_ATTRIBUTES = 'target="_blank" rel="noopener noreferrer nofollow"'
BARE_LINK = "<a> without href"  # expected: the link text in an <a> with only target and rel, in any order
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

XSS = [
    ("script", "<p>Hi<script>alert(1)</script></p>", "<p>Hi</p>"),
    ("onerror", '<p onclick="alert(1)">Hi<img src=x onerror="alert(1)"></p>', "<p>Hi</p>"),
    ("javascript href", '<a href="javascript:alert(1)">x</a>', BARE_LINK),
    ("mixed case", '<a href="JaVaScRiPt:alert(1)">x</a>', BARE_LINK),
    ("entity encoded", '<a href="&#106;&#x61;vascript&colon;alert(1)">x</a>', BARE_LINK),
    ("tab inside the scheme", '<a href="java&#x09;script:alert(1)">x</a>', BARE_LINK),
    ("vbscript", '<a href="vbscript:msgbox(1)">x</a>', BARE_LINK),
    ("data: link", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
     BARE_LINK),
    ("svg onload", "<svg onload=alert(1)><circle r=1 /></svg>ok", "ok"),
    ("iframe", '<iframe src="https://evil.example.com/"></iframe>ok', "ok"),
    ("object and embed", '<object data="x.swf">fallback</object><embed src="y.swf">ok', "ok"),
    ("style attribute with url()", '<div style="background:url(https://t.example.com/p.gif)">x</div>', "<div>x</div>"),
    ("style element", "<style>body{background:url(https://t.example.com/p.gif)}</style><p>x</p>", "<p>x</p>"),
    ("meta refresh", '<meta http-equiv="refresh" content="0;url=https://evil.example.com/">x', "x"),
    ("link stylesheet", '<link rel="stylesheet" href="https://t.example.com/x.css">x', "x"),
    ("background attribute", '<table background="https://t.example.com/b.gif"><tr><td>c</td></tr></table>',
     "<table><tbody><tr><td>c</td></tr></tbody></table>"),
    ("form", '<form action="https://evil.example.com/"><input name="pw"><button>Log in</button></form>', "Log in"),
    ("math href", '<math><mi xlink:href="javascript:alert(1)">x</mi></math>ok', "ok"),
    ("comment", "<p>a<!-- <script>alert(1)</script> --></p>", "<p>a</p>"),
    ("closing tag tricks", "<p>a</p><scr<script>ipt>alert(1)</script>", "<p>a</p>ipt&gt;alert(1)"),
]


@pytest.mark.parametrize(("case", "html", "expected"), XSS, ids=[row[0] for row in XSS])
def test_script_vectors_are_removed(case, html, expected):
    cleaned = clean_html(html).html
    if expected == BARE_LINK:
        assert re.fullmatch(r'<a (?:target="_blank" rel="noopener noreferrer nofollow"'
                            r'|rel="noopener noreferrer nofollow" target="_blank")>x</a>', cleaned)
    else:
        assert cleaned == expected
    dangerous = r"<script|javascript:|vbscript:|\son\w+=|style=|<iframe|<svg|<meta|<link"
    assert not re.search(dangerous, cleaned, re.IGNORECASE)


def test_formatting_and_tables_are_kept():
    html = ('<h2 title="t">Plan</h2><p><b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> '
            '<span>sp</span></p><ul><li>one</li></ul><ol><li>two</li></ol><blockquote>q</blockquote>'
            "<pre><code>x = 1</code></pre><hr>"
            '<table width="600"><thead><tr><th colspan="2">Head</th></tr></thead>'
            '<tbody><tr><td rowspan="2" width="50%" class="x" bgcolor="red">a</td><td>b</td></tr></tbody></table>')
    assert clean_html(html) == CleanHtml(html=html.replace(' class="x" bgcolor="red"', ""), blocked_images=0)


def test_links_open_in_a_new_tab_without_referrer():
    html = '<a href="https://example.com/?a=1&amp;b=2" target="_self" rel="opener" title="Docs">docs</a>'
    assert clean_html(html).html == (
        f'<a href="https://example.com/?a=1&amp;b=2" title="Docs" {LINK_ATTRIBUTES}>docs</a>')
    assert clean_html('<a href="mailto:anna@example.com">mail</a>').html == (
        f'<a href="mailto:anna@example.com" {LINK_ATTRIBUTES}>mail</a>')
    assert "href" not in clean_html('<a href="/relative/path">r</a>').html


NEWSLETTER = (
    '<p>Hello<img src="https://track.example.com/open?id=42" width="1" height="1" alt=""></p>'
    '<img src="http://cdn.example.com/banner.png" alt="Banner > news">'
    '<img src="//cdn.example.com/logo.png">'
    '<img src="cid:logo@example.com" alt="logo">'
    f'<img src="{PNG}" alt="dot">'
)


def test_remote_and_cid_images_are_blocked_and_counted():
    cleaned = clean_html(NEWSLETTER)
    assert cleaned == CleanHtml(html=f'<p>Hello</p><img src="{PNG}" alt="dot">', blocked_images=4)


def test_remote_images_are_shown_when_allowed_but_cid_is_still_dropped():
    cleaned = clean_html(NEWSLETTER, allow_remote_images=True)
    assert cleaned.blocked_images == 1
    assert cleaned.html == (
        '<p>Hello<img src="https://track.example.com/open?id=42" width="1" height="1" alt=""></p>'
        '<img src="http://cdn.example.com/banner.png" alt="Banner &gt; news">'
        '<img src="//cdn.example.com/logo.png">'
        f'<img src="{PNG}" alt="dot">')


def test_tracking_pixel_is_removed():
    pixel = '<p>Hi</p><img width="1" height="1" border="0" src="https://t.example.com/o.gif?u=anna%40example.com">'
    assert clean_html(pixel) == CleanHtml(html="<p>Hi</p>", blocked_images=1)


@pytest.mark.parametrize("src", [
    "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+", "data:text/html,<script>alert(1)</script>",
    "javascript:alert(1)", "relative/logo.png", "ftp://example.com/x.png",
])
def test_other_image_sources_are_dropped(src):
    assert clean_html(f'<img src="{src}" alt="x">ok', allow_remote_images=True).html == "ok"


def test_data_images_of_the_allowed_kinds_are_kept():
    for kind in ("png", "jpeg", "gif", "webp"):
        html = f'<img src="data:image/{kind};base64,AAAA" alt="a">'
        assert clean_html(html) == CleanHtml(html=html, blocked_images=0)


def test_images_without_a_source_are_not_counted():
    assert clean_html('<img alt="x"><img src="">ok') == CleanHtml(html="ok", blocked_images=0)


SAMPLE = """<html><head><title>Newsletter</title><style>p { color: red }</style>
<script>var tracking = "yes";</script></head><body>
<div>Hi Anna,</div><div><br></div>
<div>Here is the <b>plan</b> for&nbsp;Q3 &amp; Q4:</div>
<ul><li>Ship   the
  importer</li><li>Fix <a href="https://example.com">search</a></li></ul>
<p>First paragraph
   wraps here.</p><p>Second line one<br>line two<br><br><br>after a gap</p>
<table><tr><th>Name</th><th>Value</th></tr><tr><td>a</td><td>1</td></tr></table>
<blockquote><p>Quoted line</p>Still quoted<br>and more</blockquote>
<pre>def f():
    return 1</pre>
<p>Thanks,<br>Sam</p>
</body></html>"""


def test_html_to_text_keeps_paragraphs_lines_and_quotes():
    assert html_to_text(SAMPLE) == (
        "Hi Anna,\n"
        "\n"
        "Here is the plan for Q3 & Q4:\n"
        "\n"
        "- Ship the importer\n"
        "- Fix search\n"
        "\n"
        "First paragraph wraps here.\n"
        "\n"
        "Second line one\n"
        "line two\n"
        "\n"
        "after a gap\n"
        "\n"
        "Name Value\n"
        "a 1\n"
        "\n"
        "> Quoted line\n"
        "\n"
        "> Still quoted\n"
        "> and more\n"
        "\n"
        "def f():\n"
        "    return 1\n"
        "\n"
        "Thanks,\n"
        "Sam"
    )


def test_html_to_text_of_plain_and_empty_input():
    assert html_to_text("") == ""
    assert html_to_text("just text, 3 < 4 &amp; 5 > 2") == "just text, 3 < 4 & 5 > 2"
    assert html_to_text("<script>alert(1)</script><style>x</style>") == ""
