"""`python -m services.cli docs ...`: Doc Q&A sources, indexing, questions and evaluation."""

from __future__ import annotations

import argparse
import json
import sys

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.cli.common import acting_user, guarded, wait_for_jobs
from services.docs import evaluation, indexing, qa, sources
from services.jobs.runners import InProcessRunner, get_runner
from services.llm import gateway
from services.search.documents import DocumentError


def _start(user: AuthedUser, source_ids: list[int], wait: bool) -> int:
    job_ids = [indexing.start(user, source_id) for source_id in source_ids]
    for source_id, job_id in zip(source_ids, job_ids, strict=True):
        print(f"Indexing source {source_id}: job {job_id}")
    # In-process jobs die with this process: wait for them even without --wait.
    if wait or get_runner().name == InProcessRunner.name:
        return wait_for_jobs(job_ids)
    print("Follow the progress on the Jobs page or with `jobs list`.")
    return 0


def cmd_add_folder(args: argparse.Namespace) -> int:
    user = acting_user(args.user)
    source_id = sources.create_folder(user, path=args.path, name=args.name or "", shared=args.shared)
    print(f"Added folder source {source_id}.")
    return _start(user, [source_id], args.wait) if args.index else 0


def cmd_add_confluence(args: argparse.Namespace) -> int:
    user = acting_user(args.user)
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    source_id = sources.create_confluence(user, url=args.url, token=token, spaces=args.space, email=args.email or "",
                                          name=args.name or "", shared=args.shared)
    print(f"Added Confluence source {source_id} (spaces {', '.join(args.space)}).")
    return _start(user, [source_id], args.wait) if args.index else 0


def cmd_add_package(args: argparse.Namespace) -> int:
    user = acting_user(args.user)
    source_id = sources.create_package(user, package=args.package, shared=not args.private)
    print(f"Added package source {source_id} ({args.package}).")
    return _start(user, [source_id], args.wait) if args.index else 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = sources.list_sources(acting_user(args.user))
    if args.json:
        print(json.dumps([{"id": s.id, "kind": s.kind, "name": s.name, "status": s.status, "documents": s.documents,
                           "chunks": s.chunks, "symbols": s.symbols, "shared": s.shared, "error": s.error,
                           "last_sync_at": s.last_sync_at, "detail": s.detail} for s in rows], indent=2, default=str))
        return 0
    print(f"{'ID':>4}  {'KIND':<10} {'NAME':<30} {'STATUS':<9} {'DOCS':>6} {'CHUNKS':>7}  LAST SYNC")
    for s in rows:
        last = s.last_sync_at.strftime("%Y-%m-%d %H:%M") if s.last_sync_at else "never"
        print(f"{s.id:>4}  {s.kind:<10} {s.name[:30]:<30} {s.status:<9} {s.documents:>6} {s.chunks:>7}  {last}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    user = acting_user(args.user)
    wanted = args.source or [s.id for s in sources.list_sources(user) if s.mine or user.is_admin]
    if not wanted:
        print("No sources to index: add one with `docs add-folder`, `docs add-confluence` or `docs add-package`.")
        return 0
    return _start(user, wanted, args.wait)


async def _ask(user: AuthedUser, question: str, stream: bool) -> qa.DocAnswer:
    answer = None
    async for piece in qa.ask(user, question):
        if isinstance(piece, qa.DocAnswer):
            answer = piece
        elif stream:
            print(piece, end="", flush=True)
    assert answer is not None
    return answer


def cmd_ask(args: argparse.Namespace) -> int:
    # On the gateway's own loop, as `llm loadtest` does: asyncio.run would fail wherever a
    # loop already runs in this thread (an embedding caller, the test process).
    answer = gateway.on_gateway_loop(_ask(acting_user(args.user), args.question, stream=not args.json)).result()
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, default=str))
        return 0
    if answer.mode != "llm":
        print(answer.text)
    print()
    for c in answer.citations:
        where = f" ({c.where})" if c.where else ""
        print(f"[{c.number}] {c.title}{where} · {c.url or c.location or c.source_name} · similarity {c.similarity:.2f}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    figures = evaluation.evaluate(args.beir, k=args.k, reindex=args.reindex,
                                  report=lambda message: print(message, file=sys.stderr))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    indexing_ = figures["indexing"]
    print(f"{figures['dataset']}: {figures['documents']} documents, {figures['queries']} judged queries; indexing "
          f"{indexing_.get('chunks_per_second', '?')} chunks/s{' (reused)' if indexing_.get('reused') else ''}")
    k = figures["k"]
    print(f"{'MODE':<8} {'R@1':>6} {'R@5':>6} {f'R@{k}':>6} {f'MRR@{k}':>7} {f'nDCG@{k}':>8} {'p50 ms':>7} {'p95 ms':>7}")
    for mode, m in figures["modes"].items():
        print(f"{mode:<8} {m['recall@1']:>6.3f} {m['recall@5']:>6.3f} {m[f'recall@{k}']:>6.3f} {m[f'mrr@{k}']:>7.3f} "
              f"{m[f'ndcg@{k}']:>8.3f} {m['latency_ms_p50']:>7.1f} {m['latency_ms_p95']:>7.1f}")
    return 0


def register(groups: argparse._SubParsersAction) -> None:
    docs = groups.add_parser("docs", help="Doc Q&A: sources, indexing, questions, evaluation")
    sub = docs.add_subparsers(dest="docs_action", required=True)

    def command(name: str, fn, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--user", help="act as this user (default: the first admin)")
        parser.set_defaults(func=guarded(fn, DocumentError, ValidationError))
        return parser

    def adds_source(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--name", help="a name for the source")
        parser.add_argument("--no-index", dest="index", action="store_false", help="add it without indexing now")
        parser.add_argument("--wait", action="store_true", help="wait for the indexing to finish")

    folder = command("add-folder", cmd_add_folder, "index a folder of PDF, HTML, Markdown and text files")
    folder.add_argument("path")
    folder.add_argument("--shared", action="store_true", help="let every user ask it")
    adds_source(folder)
    confluence = command("add-confluence", cmd_add_confluence, "index Confluence spaces")
    confluence.add_argument("--url", required=True)
    confluence.add_argument("--token", required=True, help="a personal access token ('-' reads it from stdin)")
    confluence.add_argument("--email", help="your e-mail, for an Atlassian Cloud API token")
    confluence.add_argument("--space", action="append", required=True, help="a space key (repeat for more)")
    confluence.add_argument("--shared", action="store_true", help="let every user ask it")
    adds_source(confluence)
    package = command("add-package", cmd_add_package, "index an installed Python package's symbols and docs")
    package.add_argument("package")
    package.add_argument("--private", action="store_true", help="only you may ask it")
    adds_source(package)
    listing = command("list", cmd_list, "the sources and their state")
    listing.add_argument("--json", action="store_true")
    index = command("index", cmd_index, "re-sync sources (all of yours, or --source ID)")
    index.add_argument("--source", type=int, action="append", help="a source id (repeat for more)")
    index.add_argument("--wait", action="store_true", help="wait and show progress")
    ask = command("ask", cmd_ask, "ask a question of the documentation")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="answer, citations and scores as JSON")
    evaluate = command("eval", cmd_eval, "retrieval quality on a BEIR dataset (dense, keyword, hybrid)")
    evaluate.add_argument("--beir", required=True, help="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv")
    evaluate.add_argument("--k", type=int, default=10)
    evaluate.add_argument("--reindex", action="store_true", help="index the corpus again even if unchanged")
    evaluate.add_argument("--json", action="store_true")
