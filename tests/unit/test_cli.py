"""The admin command line, in-process through main() and once as a real `python -m services.cli`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from services import crypto, runtime_settings
from services.auth import sessions, users
from services.cli.commands import main
from services.db import migrate, session_scope
from services.db.models import JobRun
from services.settings import reset_settings_cache

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-live-TopSecretValue-4242"
PASSWORD = "a long admin password"


pytestmark = pytest.mark.usefixtures("restore_logging")  # main() installs the redacting record factory


@pytest.fixture
def cli(data_dir, capsys, monkeypatch):
    """run(*argv, stdin=...) -> (exit code, stdout, stderr)."""

    def run(*argv: str, stdin: str = ""):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_user_create_admin_with_password_from_stdin(cli):
    code, out, err = cli("user", "create", "Admin@Example.com", "--admin", "--name", "Ada",
                         "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0, err
    assert "Created admin admin@example.com" in out
    [user] = users.list_users()
    assert (user.email, user.role, user.display_name) == ("admin@example.com", "admin", "Ada")
    # The newline was not part of the password.
    token, who = sessions.sign_in("admin@example.com", PASSWORD)
    assert who.is_admin and token


def test_user_create_member_and_list(cli):
    assert cli("user", "create", "admin@example.com", "--admin", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert cli("user", "create", "member@example.com", "--password", "member password 1")[0] == 0
    sessions.sign_in("member@example.com", "member password 1")
    code, out, _ = cli("user", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "EMAIL", "ROLE", "STATE", "LAST", "SIGN-IN"]
    admin_line = next(line for line in lines if "admin@example.com" in line)
    member_line = next(line for line in lines if "member@example.com" in line)
    assert admin_line.split()[2:4] == ["admin", "active"] and admin_line.endswith("never")
    assert member_line.split()[2:4] == ["member", "active"] and not member_line.endswith("never")


def test_user_list_shows_locked_and_disabled(cli, make_user):
    admin = make_user("admin@example.com", role="admin")
    off = make_user("off@example.com")
    users.set_active(off.id, False)
    from datetime import timedelta

    from services.db.models import User
    from services.db.models.base import utcnow

    with session_scope() as session:
        row = session.get(User, admin.id)
        row.locked_until = utcnow() + timedelta(minutes=5)
        session.add(row)
    _, out, _ = cli("user", "list")
    assert "locked" in next(line for line in out.splitlines() if "admin@example.com" in line)
    assert "disabled" in next(line for line in out.splitlines() if "off@example.com" in line)


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (("user", "create", "a@example.com", "--password-stdin"), "short\n", "at least 10 characters"),
        (("user", "create", "a@example.com", "--password-stdin"), "", "at least 10 characters"),
        (("user", "create", "not-an-email", "--password-stdin"), PASSWORD, "valid email"),
        (("user", "create", "a@example.com", "--name", "n" * 201, "--password-stdin"), PASSWORD, "200"),
    ],
)
def test_user_create_bad_input_exits_2_with_a_clear_error(cli, argv, stdin, message):
    code, out, err = cli(*argv, stdin=stdin)
    assert code == 2
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err
    assert out == ""
    assert users.list_users() == []


def test_duplicate_user_exits_2_and_keeps_the_first(cli):
    cli("user", "create", "a@example.com", "--password-stdin", stdin=PASSWORD)
    code, _, err = cli("user", "create", "A@EXAMPLE.COM", "--admin", "--password-stdin", stdin="other password 12")
    assert code == 2 and "already exists" in err
    [user] = users.list_users()
    assert user.role == "member"
    sessions.sign_in("a@example.com", PASSWORD)


def test_interactive_password_prompt_must_match(cli, monkeypatch):
    answers = iter(["first password 1", "second password 2"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, err = cli("user", "create", "a@example.com")
    assert code == 2 and "differ" in err
    assert users.list_users() == []


def test_settings_set_get_list_mask_secrets(cli, db):
    code, out, err = cli("settings", "set", "openai.api_key", SECRET)
    assert code == 0, err
    assert out.strip() == f"openai.api_key = {crypto.mask(SECRET)}"

    code, out_get, err_get = cli("settings", "get", "openai.api_key")
    assert code == 0
    assert out_get.strip() == f"openai.api_key = {crypto.mask(SECRET)}"

    code, out_list, err_list = cli("settings", "list")
    assert code == 0
    line = next(line for line in out_list.splitlines() if line.startswith("openai.api_key"))
    assert line.split()[-1] == crypto.mask(SECRET)

    for text_ in (out, err, out_get, err_get, out_list, err_list):
        assert SECRET not in text_
    # Stored encrypted, readable by the app.
    assert runtime_settings.get("openai.api_key") == SECRET
    engine = create_engine(db)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT value FROM setting WHERE key='openai.api_key'")).scalar_one()
    engine.dispose()
    assert stored != SECRET


def test_settings_set_reads_the_value_from_stdin_with_dash(cli):
    code, out, _ = cli("settings", "set", "slack.client_secret", "-", stdin=SECRET + "\n")
    assert code == 0
    assert SECRET not in out
    assert runtime_settings.get("slack.client_secret") == SECRET


def test_settings_plain_values_are_shown(cli):
    cli("settings", "set", "jira.url", "https://jira.example.com")
    _, out, _ = cli("settings", "get", "jira.url")
    assert out.strip() == "jira.url = https://jira.example.com"
    _, out, _ = cli("settings", "get", "jobs.export_keep_days")
    assert out.strip() == "jobs.export_keep_days = 7 (default)"
    _, out, _ = cli("settings", "get", "anthropic.api_key")
    assert out.split() == ["anthropic.api_key", "=", "(not", "set)"]
    _, out, _ = cli("settings", "list")
    assert next(line for line in out.splitlines() if line.startswith("anthropic.api_key")).split()[-1] == "-"


def test_settings_bad_int_exits_2_and_keeps_the_old_value(cli):
    cli("settings", "set", "jobs.export_keep_days", "80")
    code, out, err = cli("settings", "set", "jobs.export_keep_days", "eighty")
    assert code == 2
    assert "error: Keep data exports for (days) must be a whole number, not 'eighty'." in err
    assert out == ""
    assert runtime_settings.get("jobs.export_keep_days") == "80"


@pytest.mark.parametrize("action", [("set", "Bad Key", "x"), ("get", "bad key")])
def test_settings_bad_key_exits_2(cli, action):
    code, _, err = cli("settings", *action)
    assert code == 2
    assert "not a valid setting name" in err


def test_settings_import_env_keeps_the_file(cli, tmp_path):
    env = tmp_path / "old.env"
    env.write_text(f"OPENAI_API_KEY={SECRET}\nJIRA_URL=https://j.example\nDATABASE_URL=sqlite:///x.db\nEMPTY=\n")
    before = env.read_bytes()
    code, out, err = cli("settings", "import-env", str(env))
    assert code == 0, err
    assert "Imported 2 setting(s): openai.api_key, jira.url" in out
    assert "Skipped DATABASE_URL (bootstrap setting" in out
    assert "Skipped EMPTY (empty)" in out
    assert SECRET not in out + err
    assert env.read_bytes() == before
    assert runtime_settings.get("openai.api_key") == SECRET


def test_settings_import_env_missing_file_exits_2(cli, tmp_path):
    code, _, err = cli("settings", "import-env", str(tmp_path / "missing.env"))
    assert code == 2
    assert "No file at" in err


def test_undecryptable_secret_is_a_clear_error_not_a_traceback(cli, monkeypatch):
    cli("settings", "set", "openai.api_key", SECRET)
    monkeypatch.setenv("LLMCODER_SECRET_KEY", "someone rotated the key")
    reset_settings_cache()
    crypto.reset_key_cache()
    code, out, err = cli("settings", "get", "openai.api_key")
    assert code == 2
    assert "cannot be decrypted" in err and "LLMCODER_SECRET_KEY" in err
    assert "Traceback" not in err
    assert SECRET not in out + err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["user"], "required"),
        (["user", "create"], "the following arguments are required: email"),
        (["jobs", "list", "--limit", "many"], "invalid int value"),
        (["settings", "set", "only.key"], "required"),
    ],
)
def test_usage_errors_exit_2_with_a_message(data_dir, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m services.cli" in err
    assert message in err


def test_db_upgrade_reports_the_revision(cli, data_dir):
    code, out, err = cli("db", "upgrade")
    assert code == 0, err
    assert out.strip() == f"Database at revision {migrate.head_revision()}."
    assert (data_dir / "llmcoder.db").is_file()
    code, out, _ = cli("db", "upgrade")  # idempotent
    assert code == 0 and migrate.head_revision() in out


def test_jobs_list_runs_and_shows_jobs(cli, make_user):
    user = make_user("owner@example.com")
    with session_scope() as session:
        session.add(JobRun(type="export", owner_id=user.id, status="running", progress=40))
        session.add(JobRun(type="cleanup", owner_id=None, status="queued"))
    code, out, err = cli("jobs", "list", "--limit", "10")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["ID", "TYPE", "OWNER", "STATUS", "PROG"]
    export = next(line for line in lines if " export " in line)
    assert "owner@example.com" in export and "running" in export and "40%" in export
    assert any(" cleanup " in line and "queued" in line for line in lines)
    code, out, _ = cli("jobs", "list", "--limit", "1")
    assert len(out.splitlines()) == 2


def test_jobs_list_on_an_empty_database(cli):
    code, out, _ = cli("jobs", "list")
    assert code == 0
    assert len(out.splitlines()) == 1


def test_health_reports_ok_without_redis(cli):
    code, out, _ = cli("health")
    assert code == 0
    report = json.loads(out)
    assert report["status"] == "ok"
    assert report["database"]["ok"] is True
    assert report["database"]["backend"] == "sqlite"
    assert report["database"]["revision"] == migrate.head_revision()
    assert report["jobs"]["mode"] == "in-process"


def _subprocess_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "LLMCODER_SECRET_KEY", "LLMCODER_DATA_DIR")}
    env["LLMCODER_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(REPO)
    return env


def test_real_subprocess_create_list_and_settings(tmp_path):
    data = tmp_path / "cli-data"
    env = _subprocess_env(data)

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess:
        # cwd is the temp dir so no stray .env of the developer is read.
        return subprocess.run([sys.executable, "-m", "services.cli", *argv], input=stdin, env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    created = run("user", "create", "root@example.com", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert "Created admin root@example.com" in created.stdout
    assert (data / "llmcoder.db").is_file()

    listed = run("user", "list")
    assert listed.returncode == 0
    assert "root@example.com" in listed.stdout and "admin" in listed.stdout

    stored = run("settings", "set", "anthropic.api_key", SECRET)
    assert stored.returncode == 0, stored.stderr
    shown = run("settings", "get", "anthropic.api_key")
    assert shown.stdout.strip() == f"anthropic.api_key = {crypto.mask(SECRET)}"
    for proc in (stored, shown):
        assert SECRET not in proc.stdout + proc.stderr
    assert oct((data / "secret.key").stat().st_mode & 0o777) == "0o600"

    bad = run("settings", "set", "auth.max_failed_logins", "many")
    assert bad.returncode == 2
    assert "error: Failed sign-ins before lockout must be a whole number" in bad.stderr
    assert "Traceback" not in bad.stderr

    usage = run("nonsense")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
