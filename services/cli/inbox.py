"""`python -m services.cli inbox ...`: the unified inbox's accounts, syncs and list."""

from __future__ import annotations

import argparse
import json
import sys

from services.auth.errors import ValidationError
from services.cli.common import acting_user, guarded, wait_for_jobs
from services.inbox import accounts, listing, sync
from services.integrations.base import IntegrationError
from services.jobs.runners import InProcessRunner, get_runner


def cmd_accounts(args: argparse.Namespace) -> int:
    rows = accounts.list_accounts(acting_user(args.user))
    if args.json:
        print(json.dumps([{"id": a.id, "kind": a.kind, "name": a.name, "address": a.address, "status": a.status,
                           "error": a.error, "messages": a.messages,
                           "last_sync_at": a.last_sync_at.isoformat() if a.last_sync_at else None}
                          for a in rows], indent=2))
        return 0
    if not rows:
        print("No inbox accounts yet: connect one on the Inbox page (Accounts).")
        return 0
    print(f"{'ID':>4}  {'KIND':<8} {'STATUS':<8} {'MESSAGES':>8}  {'LAST SYNC':<16}  ACCOUNT")
    for a in rows:
        last = f"{a.last_sync_at:%Y-%m-%d %H:%M}" if a.last_sync_at else "never"
        print(f"{a.id:>4}  {a.kind:<8} {a.status:<8} {a.messages:>8}  {last:<16}  {a.name} <{a.address}>")
        if a.error:
            print(f"      error: {a.error}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    user = acting_user(args.user)
    ids = [args.account] if args.account else [a.id for a in accounts.list_accounts(user)]
    if not ids:
        print("No inbox accounts to sync.", file=sys.stderr)
        return 1
    job_ids = []
    for account_id in ids:
        job_id = sync.start(user, account_id)
        print(f"Syncing account {account_id}: job {job_id}")
        job_ids.append(job_id)
    # In-process jobs die with this process: wait for them even without --wait.
    if args.wait or get_runner().name == InProcessRunner.name:
        return wait_for_jobs(job_ids)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    user = acting_user(args.user)
    page = listing.list_page(user, listing.Filters(needs_reply=args.needs_reply, unread=args.unread,
                                                   search=args.search or "", kind=args.source or ""),
                             page=args.page, size=args.limit)
    if args.json:
        print(json.dumps({"total": page.total, "page": page.page, "pages": page.pages, "items": [
            {"id": i.id, "account_id": i.account_id, "source": i.kind, "sender": i.sender, "subject": i.subject,
             "sent_at": i.sent_at.isoformat(), "unread": i.unread, "needs_reply": i.needs_reply, "reason": i.reason}
            for i in page.items]}, indent=2))
        return 0
    for i in page.items:
        flags = ("*" if i.unread else " ") + ("!" if i.needs_reply else " ")
        print(f"{i.id:>7} {flags} {i.sent_at:%Y-%m-%d %H:%M}  {i.kind:<7} {i.sender[:24]:<24}  {i.subject[:70]}")
    print(f"page {page.page} of {page.pages}, {page.total} message{'s' if page.total != 1 else ''}"
          "  (* unread, ! needs reply)", file=sys.stderr)
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    inbox = groups.add_parser("inbox", help="the unified inbox: accounts, syncs, messages")
    sub = inbox.add_subparsers(dest="inbox_action", required=True)

    def command(name: str, fn, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--user", help="act as this user (default: the first admin)")
        parser.set_defaults(func=guarded(fn, ValidationError, IntegrationError))
        return parser

    command("accounts", cmd_accounts, "your connected accounts and their sync state").add_argument(
        "--json", action="store_true")
    syncing = command("sync", cmd_sync, "sync all your accounts, or --account ID")
    syncing.add_argument("--account", type=int, help="an account id (see `inbox accounts`)")
    syncing.add_argument("--wait", action="store_true", help="wait and show progress")
    messages = command("list", cmd_list, "your received messages, newest first")
    messages.add_argument("--needs-reply", action="store_true", help="only those waiting for your reply")
    messages.add_argument("--unread", action="store_true")
    messages.add_argument("--search", help="text in the sender, subject or preview")
    messages.add_argument("--source", choices=accounts.KINDS)
    messages.add_argument("--page", type=int, default=1)
    messages.add_argument("--limit", type=int, default=listing.PAGE_SIZE)
    messages.add_argument("--json", action="store_true")
