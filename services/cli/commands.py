"""Sub-commands. Each one parses arguments and calls a service; no logic lives only here."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Sequence

from services import crypto, health, launcher, runtime_settings, startup
from services.auth import users
from services.auth.errors import AuthError
from services.cli import docs as docs_cli
from services.cli import inbox as inbox_cli
from services.cli import jira as jira_cli
from services.cli import llm as llm_cli
from services.db import migrate
from services.db.models import Role
from services.jobs import service as jobs


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.password:
        return args.password
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise AuthError("The two passwords differ.")
    return first


def cmd_user_create(args: argparse.Namespace) -> int:
    role = Role.admin.value if args.admin else Role.member.value
    user = users.create_user(email=args.email, password=_password(args), role=role, display_name=args.name or "")
    print(f"Created {user.role} {user.email} (id {user.id}).")
    return 0


def cmd_user_list(_args: argparse.Namespace) -> int:
    rows = users.list_users()
    print(f"{'ID':>4}  {'EMAIL':<32} {'ROLE':<7} {'STATE':<9} LAST SIGN-IN")
    for u in rows:
        state = "locked" if u.locked else ("active" if u.is_active else "disabled")
        last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"
        print(f"{u.id:>4}  {u.email:<32} {u.role:<7} {state:<9} {last}")
    return 0


def cmd_settings_set(args: argparse.Namespace) -> int:
    value = sys.stdin.readline().rstrip("\n") if args.value == "-" else args.value
    view = runtime_settings.set_value(args.key, value)
    print(f"{view.key} = {view.display}")
    return 0


def cmd_settings_get(args: argparse.Namespace) -> int:
    view = runtime_settings.view(args.key)
    if view.problem:
        print(f"error: {view.key}: {view.problem}", file=sys.stderr)
        return 2
    suffix = "" if view.is_set else " (default)" if view.display else " (not set)"
    print(f"{view.key} = {view.display}{suffix}")
    return 0


def cmd_settings_list(_args: argparse.Namespace) -> int:
    for view in runtime_settings.list_views():
        print(f"{view.key:<32} {view.display if view.is_set else '-'}")
    return 0


def cmd_settings_import_env(args: argparse.Namespace) -> int:
    report = runtime_settings.import_env_file(args.path)
    print(f"Imported {len(report.imported)} setting(s): {', '.join(report.imported) or '-'}")
    for line in report.skipped:
        print(f"Skipped {line}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    migrate.upgrade(args.revision)
    print(f"Database at revision {migrate.current_revision()}.")
    return 0


def cmd_db_revision(args: argparse.Namespace) -> int:
    migrate.revision(args.message)
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    print(f"{'ID':<32}  {'TYPE':<14} {'OWNER':<28} {'STATUS':<10} {'PROG':>4}  CREATED")
    for row, email in jobs.list_all_for_cli(args.limit):
        print(f"{row.id:<32}  {row.type:<14} {email:<28} {row.status:<10} {row.progress:>3}%  "
              f"{row.created_at:%Y-%m-%d %H:%M}")
    return 0


def cmd_health(_args: argparse.Namespace) -> int:
    report = health.report()
    print(json.dumps(report, indent=2, default=str))
    return 0 if report["status"] == "ok" else 1


def cmd_serve(args: argparse.Namespace) -> int:
    return launcher.serve(env_mode=args.env, private_redis=not args.no_redis)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.cli", description="LLMCoder administration")
    groups = parser.add_subparsers(dest="group", required=True)

    user = groups.add_parser("user", help="user accounts").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("email")
    create.add_argument("--admin", action="store_true", help="make the user an admin")
    create.add_argument("--name", help="display name")
    create.add_argument("--password", help="password (prefer --password-stdin or the prompt)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(func=cmd_user_create)
    user.add_parser("list", help="list users").set_defaults(func=cmd_user_list)

    settings = groups.add_parser("settings", help="runtime settings").add_subparsers(dest="action", required=True)
    set_ = settings.add_parser("set", help="set a value ('-' reads it from standard input)")
    set_.add_argument("key")
    set_.add_argument("value")
    set_.set_defaults(func=cmd_settings_set)
    get = settings.add_parser("get", help="show a value (secrets masked)")
    get.add_argument("key")
    get.set_defaults(func=cmd_settings_get)
    settings.add_parser("list", help="list settings").set_defaults(func=cmd_settings_list)
    imp = settings.add_parser("import-env", help="copy a .env file into runtime settings (file is kept)")
    imp.add_argument("path")
    imp.set_defaults(func=cmd_settings_import_env)

    db = groups.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    up = db.add_parser("upgrade", help="migrate to the newest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    rev = db.add_parser("revision", help="autogenerate a migration from the models (developers)")
    rev.add_argument("-m", "--message", required=True)
    rev.set_defaults(func=cmd_db_revision)

    job = groups.add_parser("jobs", help="background jobs").add_subparsers(dest="action", required=True)
    jl = job.add_parser("list", help="recent jobs of every user")
    jl.add_argument("--limit", type=int, default=50)
    jl.set_defaults(func=cmd_jobs_list)

    groups.add_parser("health", help="database and job runner health (exit 1 when degraded)").set_defaults(
        func=cmd_health)
    llm_cli.register(groups)
    docs_cli.register(groups)
    inbox_cli.register(groups)
    jira_cli.register(groups)
    serve = groups.add_parser("serve", help="run Redis (private), the worker pool and the app")
    serve.add_argument("--env", choices=("dev", "prod"), default="prod")
    serve.add_argument("--no-redis", action="store_true", help="run jobs in-process even if redis-server exists")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func not in (cmd_serve, cmd_db_upgrade, cmd_db_revision):
        startup.configure_logging()
        logging.getLogger("alembic").setLevel(logging.WARNING)  # keep command output readable
        migrate.upgrade()
    try:
        return args.func(args)
    except (AuthError, crypto.SecretDecryptError) as exc:
        # A stored secret the current key cannot read: its message says what to restore.
        print(f"error: {exc}", file=sys.stderr)
        return 2
