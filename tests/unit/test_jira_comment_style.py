"""The learned JIRA comment style: exact figures on a fixed set of one user's comments, markup told
apart from prose (code and quotes count as markup, never as prose), both mention forms, the size
cap, incremental learning equal to a rebuild, and a JSON format that can grow."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from services.inbox.style import StyleProfile
from services.jira import comment_style as cs
from services.jira.comment_style import CommentStyle

COMMENTS = [
    ("[~anna] the import fails on the second retry:\n{code:java}\nImporter.run(batch); // retry (x) :)\n{code}\n"
     "Can you check the batch size?"),
    ("Hi [~accountid:5b10a2844c20165700ede21g],\n\nDeployed to staging (/). Two things left:\n"
     "* migrate the old rows\n* update the runbook\n\nThanks,\nSam"),
    "{noformat}\n2024-06-01 ERROR Importer: timeout after 30s\n{noformat}",
    ("{quote}Is this fixed in 2.3? lol :){quote}\nYes, *fixed* in 2.3 and _verified_ on staging. "
     "See [the release notes|https://example.com/notes/2.3]."),
    "bq. Can we ship on Friday?\nh3. Plan\n# freeze on Wednesday\n# ship on Friday\n||Step||Owner||\n|freeze|[~marcus]|",
    "yeah that's expected, the cache warms up after a few min. will close this tomorrow (y)",
    ("Dear team,\n\nPlease find the root cause analysis attached. I would like to discuss it in Thursday's "
     "review.\n\nKind regards,\nSam Carter"),
    "[~priya] [~marcus] merged, thanks!",
]
# Prose words, counted by hand (mentions are words; code, quotes, greeting, sign-off and the name
# under it are not): 14, 13, -, 12, 11, 15, 16, 4 -> sorted 4 11 12 13 14 15 16.
PROSE_LENGTHS = [14, 13, 12, 11, 15, 16, 4]


@pytest.fixture(scope="module")
def learned() -> CommentStyle:
    return cs.build(COMMENTS)


def test_counts_over_the_fixed_comments(learned):
    assert learned.comments == 8
    assert learned.prose.messages == 7  # the log-only comment has no prose
    assert learned.prose.lengths == PROSE_LENGTHS
    assert learned.uses == {"mention": 4, "code": 2, "quote": 2, "emoticon": 2, "bullets": 1, "numbered": 1,
                            "heading": 1, "bold": 1, "italic": 1, "link": 1, "table": 1}
    assert learned.paragraphs == 2 + 3 + 1 + 1 + 1 + 3 + 1
    assert learned.mention_openings == 2
    assert learned.prose.greetings == {"Hi {name},": 1, "Dear team,": 1, "(none)": 5}
    assert learned.prose.sign_offs == {"Thanks,": 1, "Kind regards,": 1, "(none)": 5}


def test_summary_rows(learned):
    assert cs.summary(learned) == [
        ("Comments learned", "8"),
        ("Typical length", "13 words (usually 11-15)"),
        ("Tone", "neutral"),
        ("Structure", "1.7 paragraphs; bullet lists 12%, numbered lists 12%, h1.-h6. headings 12%"),
        ("Markup", "mentions 50%, {code}/{noformat} 25%, {quote} 25%, emoticons 25%, *bold* 12%, _italic_ 12%, "
                   "[text|link] links 12%, || tables 12%"),
        ("Opening", "straight to the point 43%, mentions someone 29%, greeting 29%"),
        ("Sign-off", "none 71%, 'Kind regards,' 14%, 'Thanks,' 14%"),
    ]


def test_describe_gives_the_learned_style(learned):
    assert cs.describe(learned).split("\n") == [
        "Write like this user (learned from 8 of their JIRA comments):",
        "- Length: keep to about 13 words (they usually write 11-15).",
        "- Paragraphs: about 2.",
        "- Tone: neutral.",
        "- Opening: straight to the point, no greeting.",
        "- Sign-off: none.",
        "Use JIRA wiki markup, not Markdown:",
        '- Use "* " bullet lists for several points.',
        '- Use "# " numbered lists for steps.',
        '- Use headings ("h3. Title") to structure longer comments.',
        "- Put code, commands and logs in {code} blocks.",
        "- Quote what you answer in a {quote} block.",
        "- Use *bold* for emphasis.",
        "- Use _italic_ for emphasis.",
        "- Mention the people concerned.",
        "- Write links as [text|url].",
        "- Use ||heading|| tables for tabular data.",
        "- JIRA emoticons such as (/) (x) (!) :) are fine where they fit.",
    ]


def test_markup_used_rarely_is_not_advised():
    profile = cs.build(["The fix is deployed to staging."] * 10 + ["||Host||State||\n|db1|up|"])
    assert profile.uses == {"table": 1}  # 1 in 11, under USE_AT
    described = cs.describe(profile)
    assert "tables" not in described
    assert described.endswith("Use JIRA wiki markup, not Markdown:\n"
                              "- Plain paragraphs; markup only where it clearly helps.")
    assert ("Markup", "|| tables 9%") in cs.summary(profile)


def test_no_comments_gives_a_neutral_default():
    assert cs.summary(CommentStyle()) == [("Comments learned", "0")]
    assert cs.describe(CommentStyle()).split("\n") == [
        "Write like this user: no JIRA comments of theirs learned yet, so be concise and go straight to the point, "
        "without a greeting or a sign-off.",
        'Use JIRA wiki markup, not Markdown: {code} blocks for code and logs, "* " for bullet lists, '
        "*bold* for emphasis.",
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_empty_comments_teach_nothing(text):
    assert cs.add(CommentStyle(), text) == CommentStyle()


@pytest.mark.parametrize("text", [
    "{code}\nTraceback (most recent call last):\n  File \"x.py\", line 1\n{code}",
    "{noformat}2024-06-01 ERROR *bold* [~anna] (y) :) # not a list{noformat}",
    "{code:title=Fix.java|borderStyle=solid}\nint x = 1; // Hi [~anna],\n{code}",
    "{code}\nunclosed block, the rest is code\n\nHi team, thanks!",
])
def test_code_only_comments_count_as_code_and_nothing_else(text):
    profile = cs.build([text])
    assert (profile.comments, profile.uses, profile.prose) == (1, {"code": 1}, StyleProfile())
    assert [label for label, _ in cs.summary(profile)] == ["Comments learned", "Structure", "Markup"]
    assert ("Markup", "{code}/{noformat} 100%") in cs.summary(profile)
    described = cs.describe(profile)
    assert "Length" not in described and "Tone" not in described
    assert "- Put code, commands and logs in {code} blocks." in described


@pytest.mark.parametrize("quoted", [
    "{quote}Hey all, is it out yet?! lol :) (y) [~bob] *now*{quote}\nThe fix is deployed to staging.",
    "bq. Hey all, is it out yet?! lol :) (y) [~bob] *now*\nThe fix is deployed to staging.",
    "The fix is deployed to staging.\n{quote}Hey all, is it out yet?! lol :){quote}",
    "The fix is deployed to staging.\n{quote}Hey all, unclosed quote, lol",
])
def test_quoted_text_counts_as_a_quote_not_as_the_users_prose(quoted):
    plain = cs.build(["The fix is deployed to staging."])
    profile = cs.build([quoted])
    assert profile.uses == {"quote": 1}
    assert asdict(profile.prose) == asdict(plain.prose)
    assert profile.prose.lengths == [6]


def test_a_pasted_email_reply_and_signature_are_not_the_users_text():
    profile = cs.build(["The fix is deployed to staging.\n\nOn Mon, 3 Jun 2024, Anna <anna@example.com> wrote:\n"
                        "> Hey, is it out? lol *now* [~bob]\n",
                        "The fix is deployed to staging.\n-- \nSam | *Team Lead* | [site|https://example.com]"])
    assert profile.uses == {}
    assert profile.prose.lengths == [6, 6]
    assert profile.prose.informal_words == 0


@pytest.mark.parametrize("mention", ["[~jsmith]", "[~john.smith@example.com]", "[~accountid:5b10a2844c20165700ede21g]",
                                     "[~accountid:557058:f5e4a1b2-0c3d-4e5f-8a9b-0c1d2e3f4a5b]"])
def test_both_mention_forms(mention):
    opening = cs.build([f"{mention} can you review the fix?"])
    assert opening.uses == {"mention": 1}
    assert (opening.mention_openings, opening.prose.mentions, opening.prose.lengths) == (1, 1, [6])
    greeted = cs.build([f"Hi {mention},\nthe fix is in."])
    assert greeted.prose.greetings == {"Hi {name},": 1}
    assert greeted.mention_openings == 0
    inline = cs.build([f"Thanks to {mention} the fix is in."])
    assert (inline.mention_openings, inline.prose.mentions) == (0, 1)


@pytest.mark.parametrize(("text", "uses"), [
    ("*Important*: the job is *not* idempotent.", {"bold"}),
    ("It is 2 * 3 * 4 here, and a*b*c there.", set()),
    ("* first point\n* second point", {"bullets"}),
    ("** nested point\n- dashed point", {"bullets"}),
    ("# first step\n## sub step", {"numbered"}),
    ("#hashtag and issue #42", set()),
    ("This is _really_ needed.", {"italic"}),
    ("Rename my_var_name and __init__ please.", set()),
    ("h1. Title", {"heading"}),
    ("ah2. no heading", set()),
    ("See [the docs|https://example.com/docs] and [https://example.com].", {"link"}),
    ("See https://example.com/docs for details.", set()),
    ("[~anna] and [~accountid:5b10a2844c20165700ede21g]", {"mention"}),
    ("||Host||State||\n|db1|up|", {"table"}),
    ("a | b | c", set()),
    ("Done (/) failed (x) careful (!) info (i) nice :) sad :( wink ;) (y) (n) (*y) (on) (flag)", {"emoticon"}),
    ("Call f(x) or g(y), see docs:D", set()),
    ("Plain words only.", set()),
])
def test_markup_detection(text, uses):
    assert set(cs.build([text]).uses) == uses


def test_markup_is_left_out_of_the_prose():
    marked = cs.build(["h3. Result\n* *Fixed* the _flaky_ test, see [the PR|https://example.com/pr/7] (/)\n"
                       "||a||b||\n|{{retry}}|{color:red}red{color}|"])
    plain = cs.build(["Result\n- Fixed the flaky test, see the PR\na b\nretry red"])
    assert marked.prose.lengths == plain.prose.lengths == [12]
    assert marked.paragraphs == plain.paragraphs == 1


def test_smileys_are_a_casual_signal_and_icons_are_not():
    smiley = cs.build(["The fix is deployed :)"])
    icon = cs.build(["The fix is deployed (/)"])
    assert (smiley.prose.emoji, smiley.prose.emoji_counts) == (1, {"🙂": 1})
    assert (icon.prose.emoji, icon.prose.lengths) == (0, [4])


def test_a_pasted_log_is_cut_to_max_chars():
    words = "word " * (cs.MAX_CHARS // 5 * 3)
    assert cs.build([words]).prose.lengths == [cs.MAX_CHARS // 5]
    log = "See the log:\n{code}\n" + "ERROR *x* [~y] (y)\n" * 10_000 + "{code}\nThanks, that was long."
    profile = cs.build([log])
    assert profile.uses == {"code": 1}  # the block is cut open, so all after it is code
    assert profile.prose.lengths == [3]


@pytest.mark.parametrize(("texts", "opening"), [
    (["Hi [~anna],\nthe fix is in.", "Hi [~bob],\nmerged.", "Merged."], "a greeting such as 'Hi {name},', {name} "
                                                                       "being the first name of the person addressed"),
    (["[~anna] the fix is in.", "[~bob] merged.", "Hi [~carl], merged."], "start by mentioning the person addressed"),
    (["[~anna] the fix is in.", "Merged."], "start by mentioning the person addressed"),  # a tie goes to the mention
    (["Hello all,\nthe fix is in.", "Hello all,\nmerged."], "a greeting such as 'Hello all,'"),
])
def test_opening_advice_follows_the_habit(texts, opening):
    assert f"- Opening: {opening}." in cs.describe(cs.build(texts))


def test_sign_off_and_paragraph_advice():
    profile = cs.build(["Merged into main.\nThanks,\nSam", "Deployed.\nThanks,\nSam", "Closing this."])
    described = cs.describe(profile)
    assert "- Sign-off: 'Thanks,'." in described
    assert "- Paragraphs: usually one." in described


def test_adding_one_comment_at_a_time_equals_building_at_once(learned):
    profile = CommentStyle()
    for text in COMMENTS:
        before = cs.to_json(profile)
        updated = cs.add(profile, text)
        assert cs.to_json(profile) == before  # add returns a new profile and leaves its argument alone
        profile = updated
    assert profile == learned


def test_json_round_trip(learned):
    assert cs.from_json(cs.to_json(learned)) == learned
    assert cs.summary(cs.from_json(cs.to_json(learned))) == cs.summary(learned)
    assert cs.from_json(cs.to_json(CommentStyle())) == CommentStyle()


def test_old_and_unknown_json_keys(learned):
    data = json.loads(cs.to_json(learned))
    del data["mention_openings"], data["prose"]["emoji_counts"]
    data["field_from_the_future"] = 1
    data["prose"]["another_one"] = [1, 2]
    loaded = cs.from_json(json.dumps(data))
    assert loaded.mention_openings == 0
    assert loaded.prose.emoji_counts == {}
    assert loaded.prose.lengths == PROSE_LENGTHS
    assert loaded.uses == learned.uses
    assert cs.from_json(json.dumps({"comments": 3})) == CommentStyle(comments=3)
    assert cs.from_json(json.dumps({"comments": 3, "prose": None})) == CommentStyle(comments=3)
    assert cs.from_json("") == cs.from_json(None) == CommentStyle()
    with pytest.raises(TypeError):
        cs.from_json("[1, 2]")
