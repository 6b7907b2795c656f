"""The "Your style" profile: exact figures on a fixed corpus of one user's sent mails and Slack
messages, quoted text and signatures left out, incremental learning equal to a rebuild,
lessons from edited drafts, and a JSON format that can grow."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from services.inbox import style
from services.inbox.style import StyleOverrides, StyleProfile

MAILS = [
    """Hi Anna,

Thanks for sending the draft over. I've read it and it looks good to me. Two small things: the budget
table is missing the Q3 numbers, and the intro could be shorter. Can you fix those before Friday?

Thanks,
Sam

On Tue, 4 Jun 2024 at 09:12, Anna Schmidt <anna@example.com> wrote:
> Hi Sam,
> Here is the draft. What do you think? Dear reviewers, kind regards, cheers! 🎉🎉
""",
    """Hi Marcus,

The deployment went fine last night. All services are back up and the error rate is below 0.1%.
I'll keep an eye on the dashboards today.

Thanks,
Sam
""",
    """Dear Ms. Okafor,

Thank you for your invitation to speak at the conference. I would like to accept, and I am happy to
give the talk on data pipelines. Please find attached my short biography and a photo.

Kind regards,
Sam Carter
""",
    """Hi Anna,

Quick update: the vendor confirmed the new delivery date, so we're on track for the launch. Can we
move our sync to Thursday morning?

Thanks,
Sam
-- 
Sam Carter | Engineering Lead
Example Corp | Dear customer, kind regards :tada:
""",
    """Hi team,

Reminder that the code freeze starts on Monday. Please merge your open pull requests by Friday
evening, and let me know if anything is blocked. I'd rather slip a feature than rush it.

Thanks,
Sam
""",
    """Hi Marcus,

Sounds good, let's do that. I've added the item to the agenda.

Best,
Sam

> should we add the migration to the agenda? lol :joy:
""",
    """Dear Mr. Brandt,

Further to our call, I am writing to confirm the terms we discussed. The contract will start on
1 July and run for twelve months. I look forward to working with you.

Kind regards,
Sam Carter
""",
    """Hi Priya,

Thanks for the review! I fixed the naming issue and split the large function into two. Could you
take another look when you have a moment?

Thanks,
Sam
""",
    """Hello everyone,

The offsite is confirmed for 12 September in Lisbon. Flights and hotel are booked, and the agenda
will follow next week. Don't forget to send me your dietary requirements.

Thanks,
Sam
""",
    """Hi Anna,

I'm out tomorrow, so Marcus will run the standup. 🙂

Thanks,
Sam

-----Original Message-----
From: Anna Schmidt
Sent: Monday, 10 June 2024 17:02
Who runs the standup tomorrow? Haha :joy: :joy:
""",
    """Hi Priya,

Yes, Tuesday works for me. I'll book a room.

Cheers,
Sam
""",
    """Hi Marcus,

Attached are the numbers for May. Revenue is up 8% compared to April, mostly from the enterprise
plan, while churn stayed flat. I'd like to discuss the pricing test in our next one-on-one. Does
Wednesday afternoon work for you?

Best regards,
Sam
Sent from my iPhone
""",
]
# Body words (greeting, sign-off and name lines, quotes and signatures left out), counted by hand:
# 38, 26, 35, 24, 33, 12, 32, 26, 29, 9, 9, 39 -> sorted 9 9 12 24 26 26 29 32 33 35 38 39;
# 312 words in 33 sentences (a hard-wrapped line does not end a sentence).
MAIL_LENGTHS = [38, 26, 35, 24, 33, 12, 32, 26, 29, 9, 9, 39]

SLACK = [
    "hey <@U02ABCD>, can you take a look at the failing build? :eyes:",
    "deployed to staging :rocket: :tada:",
    "lgtm :+1::skin-tone-3:",
    "<@U02ABCD> <@U03EFGH> standup moved to 10:30 today",
    "nope, that's expected, the cache warms up after a few min 🙂",
    "thx! merging now",
    "anyone know why the nightly job is slow? cc <@U03EFGH>",
    "ok cool, I'll pick up the flaky test tomorrow 🙂",
    "haha yes :joy:",
    "PR is up: <https://github.com/example/app/pull/42|#42> :pray:",
]


@pytest.fixture(scope="module")
def mail() -> StyleProfile:
    return style.build(MAILS)


@pytest.fixture(scope="module")
def slack() -> StyleProfile:
    return style.build(SLACK)


def test_mail_lengths_are_body_words_without_quotes_or_signatures(mail):
    assert mail.messages == 12
    assert mail.lengths == MAIL_LENGTHS


def test_mail_summary_figures(mail):
    figures = style.summary(mail)
    assert figures["messages"] == 12
    assert figures["typical_length_words"] == 26  # lower median of the twelve lengths
    assert figures["length_range"] == (12, 33)  # nearest-rank 25th and 75th percentiles
    assert figures["sentence_length_words"] == 9.5  # 312 / 33
    assert figures["greetings"] == [("Hi {name},", 0.67), ("Dear {name},", 0.17), ("Hello everyone,", 0.08)]
    assert figures["sign_offs"] == [("Thanks,", 0.58), ("Kind regards,", 0.17), ("Best regards,", 0.08)]
    assert figures["formality"] == ("neutral", 0.57)
    assert figures["emoji_per_message"] == 0.08
    assert figures["favourite_emoji"] == ["🙂"]
    assert figures["mentions_per_message"] == 0.0
    assert figures["addressed_by_name"] == 0.83  # "Hi Anna," and "Dear Ms. Okafor," but not "Hi team,"
    assert figures["questions_per_message"] == 0.33


def test_formal_signals_count_only_the_users_own_text(mail):
    # Quoted "Dear reviewers, kind regards" and the signature's "Dear customer" are not counted;
    # each formal letter counts two of its five formulas.
    assert mail.formal_phrases == 2 + 2 + 1
    assert mail.contractions == 10
    assert mail.exclamations == 1
    assert (mail.informal_words, mail.lowercase_starts, mail.emoji) == (1, 0, 1)


def test_slack_summary_figures(slack):
    figures = style.summary(slack)
    assert figures["messages"] == 10
    assert slack.lengths == [9, 3, 1, 7, 11, 3, 10, 9, 2, 4]  # emoji and the greeting are not words
    assert (figures["typical_length_words"], figures["length_range"]) == (4, (3, 9))
    assert figures["greetings"] == [("(none)", 0.9), ("hey {name},", 0.1)]
    assert figures["sign_offs"] == [("(none)", 1.0)]
    # 6 informal words, 8 emoji, 10 lowercase sentence starts, 2 contractions, 1 "!": 0.25 - 24.75 / 10
    assert figures["formality"] == ("casual", 0.1)
    assert figures["emoji_per_message"] == 0.8
    assert figures["favourite_emoji"] == ["🙂", ":+1:", ":eyes:", ":joy:", ":pray:"]
    assert figures["mentions_per_message"] == 0.4
    assert figures["addressed_by_name"] == 0.2
    assert figures["questions_per_message"] == 0.2


def test_quoted_text_and_signatures_are_ignored():
    plain = style.build(["Hi Anna,\n\nThe release is out.\n\nThanks,\nSam"])
    signed = style.build(["Hi Anna,\n\nThe release is out.\n\nThanks,\nSam\n-- \nSam Carter 🎉 | Dear customer!"])
    quoted = style.build([
        ("Hi Anna,\n\nThe release is out.\n\nThanks,\nSam\n\nOn Mon, 3 Jun 2024, Anna Schmidt <anna@example.com>\n"
         "wrote:\n\n> Is it out yet?! Please let me know asap :tada:\n> > Hey all, lol"),
    ])
    interleaved = style.build(["> Is it out yet?!\nHi Anna,\n\nThe release is out.\n> Great! 🎉\n\nThanks,\nSam"])
    assert asdict(signed) == asdict(plain)
    assert asdict(quoted) == asdict(plain)
    assert asdict(interleaved) == asdict(plain)
    assert plain.lengths == [4]


def test_sign_off_name_is_stripped_and_greeting_names_become_placeholders():
    profile = style.build([
        "Hi Anna and Bob,\nThe room is booked.\nBest regards\nSam Carter",
        "Dear Dr. Weber,\nPlease see the minutes.\nThanks, Sam",
        "Good morning team!\nStandup is at ten.\nCheers",
        "Hey,\nOn it.\n— Sam",
    ])
    assert list(profile.greetings) == ["Hi {name},", "Dear {name},", "Good morning team!", "Hey,"]
    assert list(profile.sign_offs) == ["Best regards", "Thanks,", "Cheers", "(none)"]
    assert profile.lengths == [4, 4, 4, 3]  # "— Sam" under no sign-off stays part of the text


def test_adding_one_message_at_a_time_equals_building_at_once(mail):
    profile = StyleProfile()
    for text in MAILS:
        before = style.to_json(profile)
        profile = style.add(profile, text)
        assert style.to_json(profile) != before
    assert asdict(profile) == asdict(mail)
    assert style.add(profile, "> only a quote\n") == profile  # nothing of the user's own: nothing learned


def test_lengths_keep_only_the_most_recent_messages():
    profile = style.build([" ".join(["word"] * n) for n in range(1, style.MAX_LENGTHS + 21)])
    assert profile.messages == style.MAX_LENGTHS + 20
    assert profile.lengths == list(range(21, style.MAX_LENGTHS + 21))


def test_describe_gives_the_learned_style(mail, slack):
    assert style.describe(mail).split("\n") == [
        "Write in the user's own style.",
        "Typical length: about 26 words (12-33).",
        "Sentences: about 10 words each.",
        "Greeting: 'Hi {name},' (67%); {name} is the recipient's first name.",
        "Sign-off: 'Thanks,' (58%).",
        "Formality: neutral.",
        "Emoji: rarely (0.08 per message), favourites 🙂.",
    ]
    described = style.describe(slack)
    assert "Greeting: none (90%)." in described
    assert "Formality: casual." in described
    assert "Emoji: sometimes (0.80 per message), favourites 🙂 :+1: :eyes: :joy: :pray:." in described
    assert "Mentions: about 0.4 @-mentions per message." in described


def test_overrides_win_over_learned_values(mail):
    overrides = StyleOverrides(greeting="Hello {name},", sign_off="Best,", formality="casual", length="short",
                               notes="Never promise dates.")
    described = style.describe(mail, overrides)
    assert "Length: short, under 50 words." in described
    assert "Typical length" not in described
    assert "Greeting: 'Hello {name},'; {name} is the recipient's first name." in described
    assert "Sign-off: 'Best,'." in described
    assert "Formality: casual." in described
    assert described.endswith("The user's own notes: Never promise dates.")


def test_empty_profile_says_so_and_uses_neutral_defaults():
    assert style.describe(StyleProfile()).split("\n") == [
        "Write in the user's own style.",
        "No sent messages to learn from yet: use a neutral, friendly tone.",
        "Length: short, about 50-100 words.",
        "Greeting: 'Hi {name},'; {name} is the recipient's first name.",
        "Sign-off: 'Thanks,'.",
        "Formality: neutral.",
        "Emoji: none.",
    ]
    assert style.summary(StyleProfile())["formality"] == ("neutral", 0.5)


DRAFTS = [
    (("Dear Anna,\n\nI hope this email finds you well. The report is attached. It covers the first quarter "
      "in detail, including revenue, churn and the hiring plan for the next two quarters. Please let me know "
      "if you have any questions.\n\nBest regards,\nSam"),
     "Hi Anna,\n\nThe report is attached. It covers Q1: revenue, churn and hiring.\n\nThanks,\nSam"),
    (("Dear Marcus,\n\nI hope this email finds you well. Thank you for the update on the migration. I will "
      "review the plan tomorrow morning and send you my comments before the weekly meeting.\n\nBest regards,\n"
      "Sam"),
     ("Hi Marcus,\n\nThanks for the update. I'll review the plan tomorrow and comment before the weekly.\n\n"
      "Thanks,\nSam")),
    (("Dear Priya,\n\nI hope this email finds you well. Thank you for the quick review of the pull request. "
      "I have addressed all of your comments and pushed a new version of the branch.\n\nBest regards,\nSam"),
     "Hi Priya,\n\nThanks for the quick review. All comments addressed, new version pushed.\n\nThanks,\nSam"),
]


def test_edit_lessons_appear_after_repeated_edits():
    profile = style.learn_edit(StyleProfile(), *DRAFTS[0])
    assert profile.edits == 1
    assert profile.deleted_phrases["I hope this email finds you well"] == 1
    assert "Lessons" not in style.describe(profile)  # one edit is not a habit yet

    for draft, sent in DRAFTS[1:]:
        profile = style.learn_edit(profile, draft, sent)
    assert profile.edits == 3
    assert profile.greeting_edits == {"Hi {name},": 3}
    assert profile.sign_off_edits == {"Thanks,": 3}
    assert profile.deleted_phrases["I hope this email finds you well"] == 3
    # 11/39 = 0.2821, then moving averages with weight 0.3 of 14/31 (0.3330) and 11/32 (0.3362)
    assert profile.length_ratio == 0.3362
    lessons = style.describe(profile).split("Lessons from the user's edits of earlier drafts:\n")[1].split("\n")
    assert lessons == [
        "- Keep drafts about 70% shorter than you would.",
        "- Use 'Hi {name},' as the greeting.",
        "- Use 'Thanks,' as the sign-off.",
        "- Never write 'I hope this email finds you well'.",
    ]


def test_edit_lessons_for_removed_greetings_and_overrides():
    profile = StyleProfile()
    for _ in range(2):
        profile = style.learn_edit(profile, "Hi Anna,\nThe build is green again now.\nThanks,\nSam",
                                   "The build is green again now.\nThanks,\nSam")
    described = style.describe(profile)
    assert "- Leave out the greeting." in described
    assert "shorter" not in described and "Never write" not in described  # same body, nothing deleted
    assert "Leave out the greeting" not in style.describe(profile, StyleOverrides(greeting="Hey {name}"))


def test_deleted_phrases_stay_bounded():
    profile = StyleProfile()
    for number in range(style.MAX_PHRASES + 30):
        profile = style.learn_edit(profile, f"Sentence number {number} is here. Keep this one please.",
                                   "Keep this one please.")
    assert len(profile.deleted_phrases) == style.MAX_PHRASES
    assert "Sentence number 129 is here" in profile.deleted_phrases  # the newest survive


def test_json_round_trip(mail):
    edited = style.learn_edit(mail, *DRAFTS[0])
    assert style.from_json(style.to_json(edited)) == edited
    overrides = StyleOverrides(greeting="Hey {name} 👋", length="long", notes="Short sentences.")
    assert style.overrides_from_json(style.overrides_to_json(overrides)) == overrides
    assert style.summary(style.from_json(style.to_json(mail))) == style.summary(mail)


def test_old_json_without_newer_fields_still_loads(mail):
    old = json.loads(style.to_json(mail))
    for newer in ("edits", "length_ratio", "greeting_edits", "sign_off_edits", "deleted_phrases",
                  "addressed_by_name", "emoji_counts"):
        del old[newer]
    old["field_from_the_future"] = 42
    loaded = style.from_json(json.dumps(old))
    assert (loaded.edits, loaded.length_ratio, loaded.deleted_phrases) == (0, 1.0, {})
    assert loaded.lengths == MAIL_LENGTHS
    assert style.summary(loaded)["typical_length_words"] == 26
    assert style.from_json("") == StyleProfile()
    assert style.overrides_from_json('{"greeting": "Yo"}') == StyleOverrides(greeting="Yo")
    with pytest.raises(TypeError):
        style.from_json("[1, 2]")
