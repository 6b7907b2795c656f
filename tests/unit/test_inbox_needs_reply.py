"""Needs-reply flags on a labelled table of mails and Slack messages: each verdict exactly,
then precision and recall against the true labels, known misses included."""

from __future__ import annotations

from typing import Any

import pytest

from services.inbox.needs_reply import (
    DIRECT_QUESTION,
    MENTIONS_YOU,
    NO_REPLY,
    REQUEST,
    Verdict,
    detect,
    own_text,
)

MAIL = {"is_direct": True, "own_names": ("Anna",)}
CC = {"is_direct": False, "own_names": ("Anna",)}
DM = {"is_direct": True, "own_names": ("Anna",)}
CHANNEL = {"is_direct": False, "own_names": ("Anna",)}
CHANNEL_MENTION = {**CHANNEL, "mentions_me": True}

# (case, text, keyword arguments, truly needs a reply, verdict expected from detect)
TABLE: list[tuple[str, str, dict[str, Any], bool, Verdict]] = [
    ("mail question", "Hi Anna,\n\nCould you send me the Q3 numbers by Friday?\n\nThanks,\nBob",
     MAIL, True, Verdict(True, DIRECT_QUESTION)),
    ("mail request", "Hi Anna,\n\nPlease review the attached contract and sign it.\n\nBest,\nBob",
     MAIL, True, Verdict(True, REQUEST)),
    ("mail thanks only", "Thanks!", MAIL, False, NO_REPLY),
    ("mail fyi", "Hi Anna,\n\nFYI, the deploy went fine.\n\nBob", MAIL, False, NO_REPLY),
    ("mail sounds good", "Sounds good, see you then.", MAIL, False, NO_REPLY),
    ("automated sender", "Bob asked: Can you review PR #42?",
     {**MAIL, "sender_address": "noreply@github.com"}, False, NO_REPLY),
    ("notifications sender", "Can you approve the deployment?",
     {**MAIL, "sender_address": "Notifications+abc@ci.example.com"}, False, NO_REPLY),
    ("newsletter", "Big news! What will you build this week?\n\nUnsubscribe: https://news.example.com/u?id=1",
     {**MAIL, "sender_address": "news@example.com"}, False, NO_REPLY),
    ("from me", "Can you send it?", {**MAIL, "from_me": True}, False, NO_REPLY),
    ("question only in the quote",
     "Done, it's merged.\n\nOn Mon, 3 Jun 2024 at 10:00, Bob <bob@example.com> wrote:\n> Can you merge my PR?",
     MAIL, False, NO_REPLY),
    ("question mark in a URL", "Here is the dashboard: https://grafana.example.com/d/abc?orgId=1&from=now-6h\n\nBob",
     MAIL, False, NO_REPLY),
    ("question in quoted speech", 'The customer wrote "why is it so slow?" in the ticket, I closed it.',
     MAIL, False, NO_REPLY),
    ("please find attached", "Hi Anna,\n\nPlease find attached the minutes from today.\n\nBest regards,\nBob",
     MAIL, False, NO_REPLY),
    ("courtesy closing", "Attached is the updated deck. Let me know if you have any questions.\n\nBob",
     MAIL, False, NO_REPLY),
    ("cc, question to someone else", "Hi Bob,\n\nCan you send the invoice?\n\nCarol", CC, False, NO_REPLY),
    ("cc, addressed by name", "Hi Bob, hi Anna,\n\nAnna, can you confirm the budget?\n\nCarol",
     CC, True, Verdict(True, MENTIONS_YOU)),
    ("question in the subject", "Carol and I are going to the new place.\n\nBob",
     {**MAIL, "subject": "Lunch on Thursday?"}, True, Verdict(True, DIRECT_QUESTION)),
    ("old question in a Re: subject", "Checked, all fine now.",
     {**MAIL, "subject": "Re: Can you check the logs?"}, False, NO_REPLY),
    ("question and request", "Any update on the hiring plan? We need your approval asap.",
     MAIL, True, Verdict(True, DIRECT_QUESTION)),
    ("no need to reply", "No need to reply, just keeping you in the loop: the audit passed. Can you believe it?",
     MAIL, False, NO_REPLY),
    ("outlook quote", ("Agreed.\n\nFrom: Bob Smith\nSent: Monday, June 3, 2024 10:00\nTo: Anna\n\n"
                       "What do you think about the plan?"), MAIL, False, NO_REPLY),
    ("answered rhetorical question", "Why did the job fail? Because the disk was full. Fixed now.",
     MAIL, False, NO_REPLY),
    # Known miss: a request without a question or a request phrase.
    ("implicit request", "The deck needs a final look from you before the board meeting.",
     MAIL, True, NO_REPLY),
    # Known false alarm: "by Friday" reads as a deadline for the reader.
    ("deadline that is not a request", "The release is planned by Friday, nothing for you to do.",
     MAIL, False, Verdict(True, REQUEST)),
    ("dm question", "hey, do you have a minute for a quick call?", DM, True, Verdict(True, DIRECT_QUESTION)),
    ("dm thanks", "thanks, sounds good 👍", DM, False, NO_REPLY),
    ("dm question in code only", "here's the fix: `x?.y ?? z`", DM, False, NO_REPLY),
    ("dm question next to code", "can you send me the link? `curl https://x/?a=1`",
     DM, True, Verdict(True, DIRECT_QUESTION)),
    # Known miss: an imperative without a request phrase.
    ("dm imperative", "ping me when you're back from lunch", DM, True, NO_REPLY),
    ("channel question to all", "does anyone know why CI is red?", CHANNEL, False, NO_REPLY),
    ("channel question mentioning the user", "<@U0ANNA> can you take a look at the failing build?",
     CHANNEL_MENTION, True, Verdict(True, MENTIONS_YOU)),
    ("channel thanks mentioning the user", "thanks <@U0ANNA>, that fixed it :tada:",
     CHANNEL_MENTION, False, NO_REPLY),
    ("channel fyi mentioning the user", "FYI <@U0ANNA> the migration is done", CHANNEL_MENTION, False, NO_REPLY),
    ("channel rhetorical question", "guess what? the build is green again", CHANNEL_MENTION, False, NO_REPLY),
    ("channel @name question", "@anna what do you think about moving standup to 10?",
     CHANNEL, True, Verdict(True, MENTIONS_YOU)),
    ("channel name-addressed request", "anna: pls review <https://github.com/x/y/pull/7|#7> when you can",
     CHANNEL, True, Verdict(True, MENTIONS_YOU)),
    ("channel question to someone else", "<@U0BOB> can you check the logs?", CHANNEL, False, NO_REPLY),
    ("channel name inside a word", "Annabelle, can you check the logs?", CHANNEL, False, NO_REPLY),
]


@pytest.mark.parametrize(("case", "text", "options", "truth", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_verdict(case, text, options, truth, expected):
    assert detect(text, **options) == expected


def test_precision_and_recall_on_the_table():
    flagged = [(detect(text, **options).needs_reply, truth) for _, text, options, truth, _ in TABLE]
    true_positives = sum(1 for predicted, truth in flagged if predicted and truth)
    false_positives = sum(1 for predicted, truth in flagged if predicted and not truth)
    false_negatives = sum(1 for predicted, truth in flagged if truth and not predicted)
    assert len(TABLE) == 38
    assert (true_positives, false_positives, false_negatives) == (10, 1, 2)
    assert round(true_positives / (true_positives + false_positives), 3) == 0.909
    assert round(true_positives / (true_positives + false_negatives), 3) == 0.833


def test_every_reason_is_one_the_user_can_read():
    reasons = {detect(text, **options).reason for _, text, options, _, _ in TABLE}
    assert reasons == {"", DIRECT_QUESTION, REQUEST, MENTIONS_YOU}


@pytest.mark.parametrize("text", [
    "Yes.\n\nOn Tue, 4 Jun 2024 at 09:12, Anna Schmidt <anna@example.com> wrote:\n> old\n",
    "Yes.\n\nOn Tue, 4 Jun 2024 at 09:12, Anna Schmidt <anna@example.com>\nwrote:\n\n> old\n",
    "Yes.\n\nAm Di., 4. Juni 2024 um 09:12 Uhr schrieb Anna:\n> old",
    "Yes.\n-- \nSam Carter\nEngineering",
    "Yes.\n\nSent from my iPhone\n",
    "> old\nYes.\n> older\n>> oldest",
    "Yes.\n\n-----Original Message-----\nFrom: Anna\nold",
    "Yes.\n________________________________\nFrom: Anna Schmidt\nSent: Tuesday\nold",
])
def test_own_text_leaves_out_quotes_and_signatures(text):
    assert own_text(text) == "Yes."
