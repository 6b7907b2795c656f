"""Which incoming messages wait for the user's answer, and why (the reason is shown on the message).

Only what the sender wrote counts: quoted replies, signatures, code, URLs and text in
double quotes are set aside first, so an old question further down a thread or a "?" in
a link does not flag a mail. In group conversations (Slack channels, mails where the user
is only in Cc or on a list) a question counts only when it is put to the user by name or
mention; in direct ones (DMs, mails to the user) any question or request does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MENTIONS_YOU = "Mentions you"
DIRECT_QUESTION = "Direct question"
REQUEST = "Request"


@dataclass(frozen=True)
class Verdict:
    needs_reply: bool
    reason: str  # MENTIONS_YOU, DIRECT_QUESTION, REQUEST, or "" when not flagged


NO_REPLY = Verdict(needs_reply=False, reason="")

_AUTOMATED_SENDER = re.compile(
    r"(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|mailer-daemon|postmaster|bounces?)"
    r"(?:[-+_.][^@]*)?@", re.IGNORECASE)
_REPLY_SUBJECT = re.compile(r"\s*(?:re|aw|fwd?|wg)\s*:", re.IGNORECASE)
_ATTRIBUTION = re.compile(r"(?:On|Am|Le|El)\s")  # "On <date>, <sender> wrote:", also in de/fr/es
_WROTE = re.compile(r"\b(?:wrote|schrieb|a écrit|escribió)\b[^:]{0,120}:\s*$")
_CUT_LINE = re.compile(r"-{2,}\s*(?:original message|forwarded message)\s*-{2,}|_{10,}$|sent from my \w+",
                       re.IGNORECASE)
_HEADER = re.compile(r"(?:from|von|de):\s", re.IGNORECASE)
_HEADER_FOLLOWS = re.compile(r"(?:sent|date|gesendet|datum|to|an):\s", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_LIST_ITEM = re.compile(r"(?:[-*•]|\d+[.)])\s")

_SET_ASIDE = re.compile(
    r"```.*?```|`[^`\n]*`"  # code
    r"|<(?:https?|mailto):[^>|]*>"  # Slack link without a label
    r"|(?:https?://|www\.)\S+"  # URLs
    r"|\"[^\"\n]{0,300}\"|“[^”\n]{0,300}”",  # quoted speech
    re.DOTALL)
_SLACK_LABELLED_LINK = re.compile(r"<(?:https?|mailto):[^>|]*\|([^>]*)>")
_NO_REPLY_WANTED = re.compile(
    r"\bno (?:need to (?:reply|respond)|reply needed|response needed|action (?:needed|required))"
    r"|\b(?:please )?do not reply\b", re.IGNORECASE)
# Courtesy formulas that look like requests but ask for nothing.
_COURTESY = re.compile(
    r"please (?:find|see) (?:attached|enclosed|below)|please note"
    r"|please (?:do not|don't) hesitate[^.!?\n]*"
    r"|(?:let me know|feel free to [^.!?\n]*?) if you (?:have|need) (?:any )?(?:other |further |more )?"
    r"(?:questions?|anything(?: else)?|help)"
    r"|let me know if (?:anything|something) (?:else )?comes up|thanks? (?:you )?in advance",
    re.IGNORECASE)
_REQUEST = re.compile(
    r"\b(?:could|can|would|will) you\b|\bplease\b|\bpl[sz]\b|\blet me know\b|\bany thoughts\b"
    r"|\bwhat do you think\b|\b(?:can|could) we\b|\bneed (?:your|you to)\b|\bwaiting (?:for|on) your\b"
    r"|\basap\b|\bget back to me\b|\b(?:take|have) a look\b|\byour (?:input|feedback|approval|opinion)\b"
    r"|\bby (?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|tomorrow|tonight|today|eod|eow"
    r"|(?:the )?end of (?:the )?(?:day|week))\b",
    re.IGNORECASE)
_RHETORICAL = frozenset({"guess what", "who knew", "you know what", "what could go wrong", "why not",
                         "how cool is that"})
_TRAILING = " \t)]'\"*_~"


def detect(text: str, *, subject: str = "", sender_address: str = "", from_me: bool = False,
           mentions_me: bool = False, is_direct: bool = False, own_names: tuple[str, ...] = ()) -> Verdict:
    """Whether `text` waits for the user's reply.

    `is_direct`: a Slack DM or group DM, or a mail with the user in To (not only Cc or a list).
    `mentions_me`: the platform says the user was mentioned (a Slack <@U…> of theirs).
    `own_names`: names the user is addressed by ("Anna", "anna.schmidt"), for "@anna" and "Anna, can you".
    """
    if from_me or _AUTOMATED_SENDER.match(sender_address.strip()) or "unsubscribe" in text.lower():
        return NO_REPLY
    body = _plain(own_text(text))
    if subject and not _REPLY_SUBJECT.match(subject):
        body = f"{_plain(subject)}\n{body}"
    if _NO_REPLY_WANTED.search(body):
        return NO_REPLY
    asks = _asks_question(body)
    if not asks and not _REQUEST.search(_COURTESY.sub(" ", body)):
        return NO_REPLY
    if not is_direct:
        addressed = mentions_me or _addressed(body, own_names)
        return Verdict(True, MENTIONS_YOU) if addressed else NO_REPLY
    return Verdict(True, DIRECT_QUESTION if asks else REQUEST)


def own_text(text: str) -> str:
    """What the author wrote: quoted lines, the quoted original after "On … wrote:" or an
    Outlook header, and the signature after "-- " or "Sent from my …" are left out."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = []
    for number, line in enumerate(lines):
        if _starts_quote_or_signature(lines, number):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line.rstrip())
    return "\n".join(kept).strip()


def sentences(text: str) -> list[str]:
    """Sentences of `text`. The lines of a hard-wrapped paragraph are joined first; a blank line,
    a line ending in . ! ? : ; and the start of a list item end a sentence too."""
    units: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if (not stripped or _LIST_ITEM.match(stripped)) and current:
            units.append(" ".join(current))
            current = []
        if stripped:
            current.append(stripped)
        if stripped.endswith((".", "!", "?", ":", ";")):
            units.append(" ".join(current))
            current = []
    if current:
        units.append(" ".join(current))
    return [part.strip() for unit in units for part in _SENTENCE_END.split(unit) if part.strip()]


def is_question(sentence: str) -> bool:
    """Ends in "?", also before a closing bracket, quote or Markdown emphasis."""
    return sentence.rstrip(_TRAILING).endswith("?")


def _starts_quote_or_signature(lines: list[str], number: int) -> bool:
    line = lines[number].strip()
    if lines[number].rstrip() == "--" or _CUT_LINE.match(line):
        return True
    if _ATTRIBUTION.match(line) and any(_WROTE.search(later.rstrip()) for later in lines[number:number + 3]):
        return True
    return bool(_HEADER.match(line)) and any(_HEADER_FOLLOWS.match(later.strip())
                                             for later in lines[number + 1:number + 5])


def _plain(text: str) -> str:
    return _SET_ASIDE.sub(" ", _SLACK_LABELLED_LINK.sub(r"\1", text))


def _asks_question(body: str) -> bool:
    parts = sentences(body)
    for number, sentence in enumerate(parts):
        if not is_question(sentence):
            continue
        answered = number + 1 < len(parts) and parts[number + 1].lower().startswith("because")
        if not answered and sentence.rstrip(_TRAILING + "?!.").lower() not in _RHETORICAL:
            return True
    return False


def _addressed(body: str, own_names: tuple[str, ...]) -> bool:
    """An @name anywhere, or the name opening a line or sentence and followed by "," or ":"
    ("Anna, can you…", "hey anna: thoughts?")."""
    names = [re.escape(name.strip()) for name in own_names if name.strip()]
    if not names:
        return False
    name = "(?:" + "|".join(names) + ")"
    pattern = (rf"@{name}\b|(?:^|[.!?]\s+)(?:(?:hi|hey|hello|dear)\s+)?{name}\s*[,:]")
    return re.search(pattern, body, re.IGNORECASE | re.MULTILINE) is not None
