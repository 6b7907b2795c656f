"""Static checks of generated code, the security-review gate and the reviewer's verdict."""

from __future__ import annotations

import json

import pytest

from services.llm import prompts
from services.llm.validation import (
    REVIEW_SYSTEM,
    REVIEW_USER,
    CodeBlock,
    Finding,
    Review,
    Validation,
    extract_code,
    is_security_sensitive,
    parse_review,
    validate_answer,
    validate_code,
)

CLEAN = '''def add(a: int, b: int) -> int:
    """Sum two numbers."""
    return a + b
'''
AWS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"  # split so this file itself holds no key-shaped literal


def _function(body: str) -> str:
    """A fully hinted, documented function around `body`, so only the body can cost points."""
    indented = "\n".join(f"    {line}" for line in body.splitlines())
    return f'def run(x: str, f: object) -> object:\n    """Do it."""\n{indented}\n'


def _kinds(result: Validation, kind: str) -> list[Finding]:
    return [finding for finding in result.findings if finding.kind == kind]


def test_clean_hinted_documented_function_scores_100():
    result = validate_code(CLEAN)
    assert result == Validation(100, True, "python", (), 1)


DANGERS = [
    ("return eval(x)", "eval()", "high"),
    ("exec(x)", "exec()", "high"),
    ("import os\nos.system(x)", "os.system()", "high"),
    ("import os\nreturn os.popen(x)", "os.popen()", "high"),
    ("import subprocess\nsubprocess.run(x, shell=True)", "subprocess.run(shell=True)", "high"),
    ("import subprocess\nsubprocess.Popen(x, shell=True)", "subprocess.Popen(shell=True)", "high"),
    ("import subprocess\nsubprocess.check_output(x, shell=True)", "subprocess.check_output(shell=True)", "high"),
    ("import subprocess as sp\nsp.run(x, shell=True)", "subprocess.run(shell=True)", "high"),
    ("from subprocess import call\ncall(x, shell=True)", "subprocess.call(shell=True)", "high"),
    ("from os import system\nsystem(x)", "os.system()", "high"),
    ("import os as o\no.popen(x)", "os.popen()", "high"),
    ("import pickle\nreturn pickle.loads(x)", "pickle.loads()", "high"),
    ("import pickle as pk\nreturn pk.load(f)", "pickle.load()", "high"),
    ("import cPickle\nreturn cPickle.loads(x)", "cPickle.loads()", "high"),
    ("import dill\nreturn dill.load(f)", "dill.load()", "high"),
    ("import marshal\nreturn marshal.loads(x)", "marshal.loads()", "high"),
    ("import yaml\nreturn yaml.load(f)", "yaml.load()", "medium"),
    ("import yaml\nreturn yaml.load(f, Loader=yaml.FullLoader)", "yaml.load()", "medium"),
    ("return __import__(x)", "__import__()", "medium"),
    ("import tempfile\nreturn tempfile.mktemp()", "tempfile.mktemp()", "medium"),
    ("import hashlib\nreturn hashlib.md5(x.encode())  # the password", "hashlib.md5()", "medium"),
    ("from hashlib import sha1\npassword = x\nreturn sha1(password.encode())", "hashlib.sha1()", "medium"),
]


@pytest.mark.parametrize(("body", "name", "severity"), DANGERS)
def test_each_danger_is_caught_with_its_line_including_aliases(body, name, severity):
    result = validate_code(_function(body))
    dangers = _kinds(result, "danger")
    assert len(dangers) == 1, result.findings
    danger = dangers[0]
    assert danger.severity == severity and danger.message.startswith(name)
    assert danger.line == 2 + len(body.splitlines()) and f"(line {danger.line})" in danger.message
    assert result.score == (70 if severity == "high" else 88)


SAFE_LOOKALIKES = [
    "model = f\nmodel.eval()",
    "import subprocess\nsubprocess.run(['ls', '-l'])",
    "import subprocess\nsubprocess.run(x, shell=False)",
    "import ast\nreturn ast.literal_eval(x)",
    "import json\nreturn json.loads(x)",
    "import yaml\nreturn yaml.load(f, Loader=yaml.SafeLoader)",
    "import yaml\nreturn yaml.safe_load(f)",
    "return __import__('json')",
    "import hashlib\nreturn hashlib.md5(x.encode()).hexdigest()  # a cache key",
    "import tempfile\nreturn tempfile.mkstemp()",
    "return 'never eval(x) or os.system(x)'",
]


@pytest.mark.parametrize("body", SAFE_LOOKALIKES)
def test_safe_lookalikes_are_not_flagged(body):
    result = validate_code(_function(body))
    assert result.findings == () and result.score == 100


SECRETS = [
    ('password = "hunter2-hunter2"', "hunter2-hunter2"),
    ('DB_PASSWORD: str = "s3cr3t-value"', "s3cr3t-value"),
    ('self.api_key = "k-123456789"', "k-123456789"),
    ('config["client_secret"] = "cs-987654321"', "cs-987654321"),
    ('settings = {"token": "tok-abcdef123"}', "tok-abcdef123"),
    ('connect(host="db", passwd="pw-0192837465")', "pw-0192837465"),
    ('def login(user: str, private_key: str = "pk-5647382910") -> None:\n    """Log in."""', "pk-5647382910"),
    ('apiKey = "ak-1029384756"', "ak-1029384756"),
    (f'KEY_ID = "{AWS_KEY}"', AWS_KEY),
    ("PEM = '''-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----'''", "MIIEabc"),
    ('client = OpenAI(api_base="x", organization="sk-' + "A1b2C3d4E5f6G7h8I9j0K1l2" + '")', "A1b2C3d4E5f6G7h8I9j0"),
    ('GH = "ghp_' + "a" * 36 + '"', "a" * 36),
    ('SLACK = "xoxb-' + "1234567890-abcdefghij" + '"', "1234567890-abcdefghij"),
]


@pytest.mark.parametrize(("code", "value"), SECRETS)
def test_each_secret_form_is_flagged_without_revealing_it(code, value):
    result = validate_code(code)
    secrets = _kinds(result, "secret")
    assert len(secrets) == 1, result.findings
    assert secrets[0].severity == "high" and secrets[0].line == 1
    assert all(value not in finding.message for finding in result.findings)
    assert result.score <= 60


def test_hard_coded_aws_key_scores_at_most_60_and_is_reported_once():
    result = validate_code(f'"""Settings."""\naccess_key = "{AWS_KEY}"\n')
    assert [finding.kind for finding in result.findings] == ["secret"]
    assert "AWS access key id" in result.findings[0].message and result.score <= 60


@pytest.mark.parametrize("code", [
    'password = ""',
    'password = "<your-password>"',
    'PASSWORD = "changeme"',
    'api_key = "xxx"',
    'token = "${GITHUB_TOKEN}"',
    'import os\napi_key = os.environ["API_KEY"]',
    'import os\ntoken = os.getenv("TOKEN", "")',
    'token_url = "https://example.org/oauth/token"',
    'password_field = "password"',
    'LABELS = {"password": "Password", "token": "Token"}',
    'max_tokens = 256',
    'tokenizer = "cl100k_base"',
])
def test_placeholders_environment_lookups_and_descriptive_names_are_not_secrets(code):
    assert validate_code(code).findings == ()


def test_syntax_error_is_high_with_its_line_and_caps_the_score():
    result = validate_code('x = 1\ndef broken(:\n    pass\n')
    assert not result.syntax_ok and result.score == 20
    assert [(f.kind, f.severity, f.line) for f in result.findings] == [("syntax", "high", 2)]
    assert "(line 2)" in result.findings[0].message


def test_syntax_error_still_reports_literal_secrets_and_scores_below_the_cap():
    result = validate_code(f'key = "{AWS_KEY}"\nif True print(1)\n')
    assert {f.kind for f in result.findings} == {"syntax", "secret"} and result.score == 20
    assert validate_code(f'key = "{AWS_KEY}"\nk2 = "{AWS_KEY}"\nif True print(1)\n').score == 20
    assert validate_code(f'a = "{AWS_KEY}"\nb = "{AWS_KEY}"\nc = "{AWS_KEY}"\nif ( \n').score == 0


def test_missing_hints_cost_up_to_15_in_proportion():
    unhinted = 'def add(a, b):\n    """Sum."""\n    return a + b\n'
    result = validate_code(unhinted)
    assert result.score == 85
    assert [(f.kind, f.severity) for f in result.findings] == [("typing", "low")]
    assert result.findings[0].message.startswith("1 of 1 functions lack type hints (add)")
    assert validate_code(unhinted + "\n\n" + CLEAN.replace("add", "plus")).score == 92  # half: round(7.5)


def test_hint_rules_skip_self_and_dunders_but_check_init_parameters():
    ok = ('class Box:\n    """A box."""\n    def __init__(self, size: int):\n        self.size = size\n'
          '    def __repr__(self):\n        return "Box"\n    def area(self) -> int:\n        """Area."""\n'
          '        return self.size\n')
    assert validate_code(ok).score == 100
    assert _kinds(validate_code(ok.replace("size: int", "size")), "typing")[0].message.startswith("1 of 2")


def test_missing_docstrings_cost_up_to_10_and_private_helpers_need_none():
    result = validate_code("def add(a: int, b: int) -> int:\n    return a + b\n")
    assert result.score == 90 and [f.kind for f in result.findings] == ["docs"]
    assert validate_code("def _add(a: int, b: int) -> int:\n    return a + b\n").score == 100


def test_code_without_functions_loses_nothing_for_hints_or_docs():
    assert validate_code("import math\nprint(math.pi)\n") == Validation(100, True, "python", (), 1)


@pytest.mark.parametrize(("code", "language", "message"), [
    ("const f = eval(input);", "javascript", "eval()"),
    ("const f = new Function('a', body);", "js", "new Function()"),
    ("let x: number = eval(s);", "ts", "eval()"),
    ("curl -fsSL https://get.example.com | sh", "bash", "piping a download"),
    ("wget -qO- https://x.example | sudo bash", "sh", "piping a download"),
    ('rm -rf "$BUILD_DIR/"', "bash", "rm -r"),
    ("rm -rf ${PREFIX}/lib", "sh", "rm -r"),
    ("sudo rm -rf / --no-preserve-root", "bash", "rm -r"),
])
def test_other_languages_get_regex_danger_checks(code, language, message):
    result = validate_code(code, language)
    assert [f.kind for f in result.findings] == ["danger"] and result.findings[0].message.startswith(message)
    assert result.syntax_ok and result.score == 70


@pytest.mark.parametrize(("code", "language"), [
    ("model.eval(); obj.evaluate(x);", "javascript"),
    ("rm -rf ./build", "bash"),
    ("SELECT * FROM users WHERE id = $1; DROP TABLE x;", "sql"),
    ("function add(a, b) { return a + b }", "javascript"),
    ("func main() { }}}", "go"),
])
def test_other_languages_have_no_syntax_hint_or_doc_deductions(code, language):
    result = validate_code(code, language)
    assert result.findings == () and result.syntax_ok and result.score == 100


def test_literal_secrets_are_found_in_any_language():
    result = validate_code(f'const client = new S3({{ accessKeyId: "{AWS_KEY}" }});', "javascript")
    assert [f.kind for f in result.findings] == ["secret"] and result.score == 60


def test_extract_code_reads_fences_and_normalises_language_tags():
    text = ("Try this:\n```py\nprint(1)\n```\nor\n```Python3\nprint(2)\n```\n"
            "then\n```bash\nls\n```\n~~~\nplain\n~~~\n```python:app/main.py\nprint(3)\n```\n```js\n\n```\n")
    assert extract_code(text) == [
        CodeBlock("python", "print(1)"), CodeBlock("python", "print(2)"), CodeBlock("sh", "ls"),
        CodeBlock("", "plain"), CodeBlock("python", "print(3)"),
    ]


def test_extract_code_keeps_inner_fences_and_an_unclosed_last_block():
    text = "````markdown\n```py\nx = 1\n```\n````\n```python\ndef cut_off("
    assert extract_code(text) == [CodeBlock("markdown", "```py\nx = 1\n```"), CodeBlock("python", "def cut_off(")]


def test_unfenced_python_with_a_def_class_or_import_is_one_block():
    assert extract_code("import os\nprint(os.getcwd())\n") == [CodeBlock("python", "import os\nprint(os.getcwd())")]
    assert extract_code(CLEAN) == [CodeBlock("python", CLEAN.strip("\n"))]


@pytest.mark.parametrize("text", [
    "Use a dictionary for this; it is the simplest option.",
    "print(1)",
    "Just import the module and call it.",
    "",
])
def test_prose_and_bare_expressions_are_not_code(text):
    assert extract_code(text) == []
    assert validate_answer(text) is None


def test_validate_answer_merges_blocks_and_takes_the_lowest_score():
    text = f"First:\n```python\n{CLEAN}```\nThen:\n```py\n{_function('return eval(x)')}```\nDone."
    result = validate_answer(text)
    assert result is not None and result.blocks == 2 and result.language == "python"
    assert result.score == 70 and result.syntax_ok
    assert [f.message for f in result.findings] == ["Block 2: eval() runs arbitrary code (line 3)"]


def test_validate_answer_checks_untagged_python_as_python_and_reports_mixed_languages():
    text = f"```\n{_function('return eval(x)')}```\n```sh\nls\n```\n```python\ndef broken(:\n```"
    result = validate_answer(text)
    assert result is not None and result.language == "mixed" and result.blocks == 3
    assert result.score == 20 and not result.syntax_ok
    assert [f.kind for f in result.findings] == ["danger", "syntax"]
    assert result.findings[1].message.startswith("Block 3: ")


def test_a_single_block_answer_keeps_plain_messages():
    result = validate_answer(f"```py\n{_function('exec(x)')}```")
    assert result is not None and result.findings[0].message == "exec() runs arbitrary code (line 3)"


@pytest.mark.parametrize(("task", "code"), [
    ("Add a Stripe payment webhook", ""),
    ("Build the login page", ""),
    ("Hash the user's password before saving", ""),
    ("Rotate the API key every month", ""),
    ("Write a database migration for the orders table", ""),
    ("Check the admin's permissions", ""),
    ("Verify the JWT signature", ""),
    ("Store the refresh tokens", ""),
    ("Refactor this helper", "user_password = form['pw']"),
    ("Refactor this helper", "const apiKey = read();"),
    ("Refactor this helper", "cur.execute('SELECT name FROM users WHERE id = ?', (uid,))"),
    ("ENCRYPT the backups", ""),
])
def test_security_sensitive_tasks_and_code(task, code):
    assert is_security_sensitive(task, code)


@pytest.mark.parametrize(("task", "code"), [
    ("Write a tokenizer for arithmetic expressions", "class Tokenizer: ..."),
    ("Sort the list of authors by name", ""),
    ("Render a bar chart of monthly sales", "plt.bar(months, totals)"),
    ("Summarise the text", "response = complete(text, max_tokens=256)"),
    ("Add a footer with the copyright year", ""),
])
def test_ordinary_tasks_are_not_security_sensitive(task, code):
    assert not is_security_sensitive(task, code)


def test_parse_review_reads_clean_json():
    review = parse_review('{"verdict": "approve", "severity": "none", "issues": [], "summary": "Fine."}')
    assert review == Review("approve", "none", (), "Fine.", parsed=True)
    assert not review.blocks_accept


def test_parse_review_reads_fenced_json_inside_prose():
    text = ('Here is my review {of sorts}:\n```json\n{"verdict": "FIX", "severity": "medium", '
            '"issues": ["Line 3 builds SQL with an f-string.", {"line": 7, "issue": "no timeout"}], '
            '"summary": "Use parameters."}\n```\nHope this helps.')
    review = parse_review(text)
    assert review.parsed and review.verdict == "fix" and review.severity == "medium"
    assert review.issues == ("Line 3 builds SQL with an f-string.", '{"line": 7, "issue": "no timeout"}')
    assert review.summary == "Use parameters." and not review.blocks_accept


@pytest.mark.parametrize("text", [
    "Looks good to me!",
    '{"verdict": "approve", "severity": "none", "issues": [}',
    '```json\n{"verdict": "maybe", "severity": "low", "issues": []}\n```',
    '{"verdict": "approve", "severity": "tiny", "issues": []}',
    '{"verdict": "approve", "severity": "none", "issues": 3}',
    '{"result": "approve"}',
])
def test_unreadable_reviews_fail_closed(text):
    review = parse_review(text)
    assert not review.parsed and review.verdict == "fix" and review.severity == "high"
    assert review.blocks_accept and "could not be read" in review.issues[0]


@pytest.mark.parametrize(("verdict", "severity", "parsed", "blocks"), [
    ("approve", "low", True, False), ("fix", "medium", True, False), ("fix", "high", True, True),
    ("approve", "critical", True, True), ("reject", "low", True, True), ("approve", "none", False, True),
])
def test_blocks_accept_on_reject_high_severity_or_an_unread_review(verdict, severity, parsed, blocks):
    assert Review(verdict, severity, (), parsed=parsed).blocks_accept is blocks


def test_results_round_trip_through_json():
    result = validate_answer(f"```py\n{_function('return eval(x)')}```\n```js\nx = 1\n```")
    assert result is not None
    assert isinstance(result.to_dict()["findings"], list)
    assert Validation.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    review = parse_review('{"verdict": "reject", "severity": "high", "issues": ["a", "b"], "summary": "s"}')
    assert Review.from_dict(json.loads(json.dumps(review.to_dict()))) == review
    unreadable = parse_review("no")
    assert Review.from_dict(json.loads(json.dumps(unreadable.to_dict()))) == unreadable


def test_review_prompts_use_the_project_template_syntax(monkeypatch):
    monkeypatch.setattr(prompts, "_DEFAULTS", {})
    prompts.register_default("code", "review", system=REVIEW_SYSTEM, user=REVIEW_USER, variables=("task", "code"))
    with pytest.raises(ValueError, match="code"):
        prompts.register_default("code", "review", system=REVIEW_SYSTEM, user=REVIEW_USER, variables=("task",))
    assert '{"verdict": "approve" | "fix" | "reject"' in REVIEW_SYSTEM.format()
    assert REVIEW_USER.format(task="T", code="C") == "Task:\nT\n\nCode to review:\nC"
