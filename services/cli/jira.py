"""`python -m services.cli jira ...`: connect, sync, and list tickets (a saved filter's synced
ones, or a live JQL search)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from services.auth.errors import ValidationError
from services.cli.common import acting_user, guarded, wait_for_jobs
from services.integrations.base import IntegrationError
from services.jira import board, connection, sync
from services.jobs.runners import InProcessRunner, get_runner

TOKEN_ENV = "JIRA_TOKEN"


def cmd_connect(args: argparse.Namespace) -> int:
    """The token comes from --token, else $JIRA_TOKEN, else a prompt: a token typed on the
    command line stays in the shell's history."""
    user = acting_user(args.user)
    token = args.token or os.environ.get(TOKEN_ENV) or getpass.getpass("JIRA token: ")
    connection.connect(user, url=args.url, token=token, email=args.email or "")
    view = connection.get(user)
    assert view is not None
    print(f"Connected to {view.server_title or view.url} ({view.deployment_label} {view.server_version}) "
          f"as {view.account_name}.")
    if args.no_sync:
        return 0
    job_id = sync.start(user)
    print(f"Syncing: job {job_id}")
    return wait_for_jobs([job_id]) if get_runner().name == InProcessRunner.name else 0


def cmd_sync(args: argparse.Namespace) -> int:
    user = acting_user(args.user)
    job_id = sync.start(user)
    print(f"Syncing JIRA: job {job_id}")
    # In-process jobs die with this process: wait for them even without --wait.
    if args.wait or get_runner().name == InProcessRunner.name:
        return wait_for_jobs([job_id])
    return 0


def _print_tickets(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"{row['key']:<12} {row['status'][:16]:<16} {row['type'][:10]:<10} {row['priority'][:8]:<8} "
              f"{row['assignee'][:18]:<18} {row['summary'][:70]}")
    print(f"{len(rows)} ticket{'s' if len(rows) != 1 else ''}", file=sys.stderr)


def cmd_issues(args: argparse.Namespace) -> int:
    user = acting_user(args.user)
    if args.jql:
        tickets = board.live_search(user, args.jql, limit=args.limit)
        rows = [{"key": t.key, "status": t.status.name, "type": t.type, "priority": t.priority,
                 "assignee": t.assignee, "summary": t.summary, "updated": t.updated.isoformat(), "url": t.url}
                for t in tickets]
    else:
        filters = board.filters(user)
        chosen = next((f for f in filters if f.name == args.filter), None) if args.filter else \
            (filters[0] if filters else None)
        if chosen is None:
            raise ValidationError(f"No saved filter called “{args.filter}”." if args.filter else "No saved filter.")
        found = board.board(user, chosen.id)
        rows = [{"key": c.key, "status": c.status, "type": c.issue_type, "priority": c.priority,
                 "assignee": c.assignee, "summary": c.summary, "updated": c.updated.isoformat(), "url": c.url}
                for column in found.columns for c in column.cards][: args.limit]
    _print_tickets(rows, args.json)
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    jira = groups.add_parser("jira", help="the JIRA board: connect, sync, tickets")
    sub = jira.add_subparsers(dest="jira_action", required=True)

    def command(name: str, fn, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--user", help="act as this user (default: the first admin)")
        parser.set_defaults(func=guarded(fn, ValidationError, IntegrationError))
        return parser

    connecting = command("connect", cmd_connect, "connect your JIRA (Server/Data Center or Cloud)")
    connecting.add_argument("--url", required=True, help="e.g. https://jira.example.com or https://you.atlassian.net")
    connecting.add_argument("--token", help=f"a personal access token or API token (else ${TOKEN_ENV}, else asked)")
    connecting.add_argument("--email", help="with a JIRA Cloud API token: your Atlassian e-mail")
    connecting.add_argument("--no-sync", action="store_true", help="do not start the first sync")
    command("sync", cmd_sync, "sync every saved filter").add_argument("--wait", action="store_true",
                                                                      help="wait and show progress")
    issues = command("issues", cmd_issues, "tickets of a saved filter (synced), or of a live --jql search")
    issues.add_argument("--jql", help="search JIRA now with this JQL")
    issues.add_argument("--filter", help="a saved filter's name (default: the first)")
    issues.add_argument("--limit", type=int, default=200)
    issues.add_argument("--json", action="store_true")
