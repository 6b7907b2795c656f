"""Exclusion rules and secret redaction, decided on the workstation."""

from __future__ import annotations

import pytest

from capture_agent.privacy import Privacy, looks_secret, redact_strokes, settled_length
from capture_agent.protocol import REDACTED_KEY, KeyStroke, WindowInfo, text_of

NAMES = {" ": "<space>", "\n": "<enter>", "\t": "<tab>"}


def strokes(text: str) -> list[KeyStroke]:
    """What typing `text` records: one stroke per character, 10 ms apart."""
    return [KeyStroke(ms=10 * i, key=NAMES.get(c, c)) for i, c in enumerate(text)]


def typed_after_redaction(text: str) -> str:
    return text_of(redact_strokes(strokes(text)))


@pytest.mark.parametrize("window", [
    WindowInfo(app="KeePassXC", title="vault.kdbx"),
    WindowInfo(app="1Password", title="All items"),
    WindowInfo(app="Bitwarden", title="My vault"),
    WindowInfo(app="Seahorse", title="Passwords and Keys"),
    WindowInfo(app="kwalletmanager5", title="KDE Wallet"),
    WindowInfo(app="Tor Browser", title="Search"),
    WindowInfo(app="firefox", title="Mozilla Firefox Private Browsing"),
    WindowInfo(app="firefox", title="New Private Window - Brave"),
    WindowInfo(app="Google-chrome", title="New Tab - Google Chrome (Incognito)"),
    WindowInfo(app="Microsoft-edge", title="New tab - [InPrivate] - Microsoft Edge"),
    WindowInfo(app="firefox", title="Log in to your vault | Bitwarden Web Vault — Mozilla Firefox"),
    WindowInfo(app="firefox", title="Chase Bank - Sign in"),
    WindowInfo(app="firefox", title="Online Banking | Barclays"),
    WindowInfo(app="firefox", title="PayPal: Summary"),
    WindowInfo(app="firefox", title="PRIVATE BROWSING"),
])
def test_default_rules_exclude_vaults_banks_and_private_windows(window):
    assert Privacy().excludes(window)


@pytest.mark.parametrize("window", [
    WindowInfo(app="Code", title="privacy.py - llmcoder - Visual Studio Code"),
    WindowInfo(app="firefox", title="Thames Embankment walks — Mozilla Firefox"),
    WindowInfo(app="Gnome-terminal", title="~/src: pytest"),
    WindowInfo(app="firefox", title="Privacy policy - Mozilla Firefox"),
    WindowInfo(),  # no X display: nothing to recognise, capture goes on
])
def test_ordinary_windows_are_not_excluded(window):
    assert not Privacy().excludes(window)


def test_the_users_apps_titles_and_patterns_are_added_case_insensitively():
    rules = Privacy(apps=["Slack"], titles=["Payroll (Q3)"], title_patterns=[r"^hr\b"])
    assert rules.excludes(WindowInfo(app="slack", title="general"))
    assert rules.excludes(WindowInfo(app="firefox", title="PAYROLL (q3) - Sheets"))  # a substring, not a regex
    assert rules.excludes(WindowInfo(app="firefox", title="HR portal"))
    assert not rules.excludes(WindowInfo(app="firefox", title="Payroll Q3"))
    assert not rules.excludes(WindowInfo(app="firefox", title="Shrink images"))
    assert rules.excludes(WindowInfo(app="KeePassXC", title="vault"))  # the defaults still hold


def test_defaults_can_be_left_out_and_blank_entries_match_nothing():
    rules = Privacy(apps=["  ", "slack"], titles=[""], defaults=False)
    assert not rules.excludes(WindowInfo(app="KeePassXC", title="Private Browsing"))
    assert not rules.excludes(WindowInfo(app="firefox", title="anything"))
    assert rules.excludes(WindowInfo(app="Slack", title="general"))


def test_an_invalid_user_pattern_is_refused_with_its_text():
    with pytest.raises(ValueError, match=r"Invalid excluded-title pattern '\(unclosed'"):
        Privacy(title_patterns=["(unclosed"])


SECRETS = [
    "sk-proj-Abc123Def456Ghi789Jkl",
    "sk-ant-api03-abcdefghijklmnop",
    "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3gH5",
    "github_pat_11ABCDEFG0123456789_abcdefghij",
    "xoxb-1234567890-abcdefGHIJ",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "llmc_9f8e7d6c5b4a39281706",
    "llmd_Zx81-qPp0_kT4mW2vNn7",
    "Zk8vQ2pL9xR4tY7wN3mB6cD1",  # no known prefix: random-looking
    "3f2a9c0b7d1e4f5a6b8c9d0e1f2a3b4c5d6e7f80",
    "https://api.example.com/v1?key=Zk8vQ2pL9xR4tY7wN3mB6cD1",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_a_typed_secret_becomes_one_redacted_stroke(secret):
    redacted = redact_strokes(strokes(f"export KEY {secret} now\n"))
    assert text_of(redacted) == "export KEY [redacted] now\n"
    assert [s.key for s in redacted].count(REDACTED_KEY) == 1
    assert not any(part in "".join(s.key for s in redacted) for part in (secret[:12], secret[-8:]))


PROSE = [
    "The quick brown fox jumps over the lazy dog.",
    "internationalization needs getUserAccountSettingsFromServer and XMLHttpRequest2Handler",
    "read https://docs.python.org/3/library/re.html#module-re first",
    "git checkout test_2024_report_final_v2 && make",
    "ls /usr/lib/python3.11/site-packages | wc -l",
    "Password reset link sent, my pass is fine\n",
    "ABCDEFGHIJ1234567890 is a ruler",
]


@pytest.mark.parametrize("text", PROSE)
def test_prose_code_and_paths_survive(text):
    assert redact_strokes(strokes(text)) == strokes(text)


@pytest.mark.parametrize(("typed", "kept"), [
    ("password: hunter2\nls\n", "password: [redacted]\nls\n"),
    ("Password:   correct horse battery\tnext", "Password:   [redacted]\tnext"),
    ("mysql -u root --passwd=hunter2 db\n", "mysql -u root [redacted]\n"),  # label and value: one word
    ("api_key=abc\n", "[redacted]\n"),
    ("password:\nplain words\n", "password:\nplain words\n"),  # a prompt with nothing after it
])
def test_what_follows_a_password_prompt_is_redacted_to_the_end_of_the_line(typed, kept):
    assert typed_after_redaction(typed) == kept


def test_a_secret_with_shift_presses_and_a_typo_goes_as_one_stroke_timed_like_its_first():
    keys = ["h", "i", "<space>", "<shift>", "Z", "k", "8", "v", "x", "<backspace>", *"Q2pL9xR4tY7wN3mB6cD1wq", "<enter>"]
    recorded = [KeyStroke(ms=5 * i, key=key) for i, key in enumerate(keys)]
    redacted = redact_strokes(recorded)
    assert [s.key for s in redacted] == ["h", "i", "<space>", REDACTED_KEY, "<enter>"]
    assert redacted[3].ms == 15


def test_looks_secret_needs_length_letters_and_digits():
    assert looks_secret("aB3dE5gH7jK9mN1pQ3sT")
    assert not looks_secret("aB3dE5gH7jK9mN1pQ3s")  # 19 characters
    assert not looks_secret("aBcDeFgHiJkLmNoPqRsTuV")  # no digit
    assert not looks_secret("")


@pytest.mark.parametrize(("typed", "settled"), [
    ("hello wor", len("hello ")),  # the unfinished word waits
    ("hello world ", len("hello world ")),
    ("nospaces", 0),
    ("password: hun", 0),  # the whole prompt line waits for its end
    ("ok\npassword: hunter2 more", len("ok\n")),
    ("password: hunter2\nnext wo", len("password: hunter2\nnext ")),
])
def test_settled_length_holds_back_what_may_still_be_a_secret(typed, settled):
    assert settled_length([s.key for s in strokes(typed)]) == settled
