"""`docs eval`: retrieval quality and speed on a BEIR-format dataset.

The corpus is indexed into a hidden source of its own (kind "eval", never asked by users)
through the same chunking, embedding and writing path as real documents, and kept for
the next run while the corpus file is unchanged. Each query is run in the three modes;
a document's rank is the rank of its best chunk. Metrics: recall@1/5/10 (share of the
relevant documents found), MRR@10 and nDCG@10 (graded by the qrels' scores).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from services.db import session_scope
from services.db.models import DocChunk, DocDocument, DocSource
from services.docs import sources, store
from services.search import embedder, retrieval
from services.search.documents import DocumentError, ParsedDocument, Section

BATCH_DOCS = 64


@dataclass(frozen=True)
class Dataset:
    name: str
    corpus: list[dict]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    fingerprint: str


def _jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    """The file's records, each an object with the `required` fields."""
    if not path.is_file():
        raise DocumentError(f"{path} is missing: a BEIR dataset has corpus.jsonl, queries.jsonl and qrels/test.tsv.")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DocumentError(f"{path.name} line {number} is not JSON: {exc.msg}.") from exc
                if not isinstance(row, dict):
                    raise DocumentError(f"{path.name} line {number} is not a JSON object.")
                missing = [name for name in required if name not in row]
                if missing:
                    raise DocumentError(f'{path.name} line {number} has no "{missing[0]}".')
                rows.append(row)
    return rows


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise DocumentError(f"{path} is missing: a BEIR dataset has corpus.jsonl, queries.jsonl and qrels/test.tsv.")
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split("\t")
        if number == 1 and not parts[-1].strip().lstrip("-").isdigit():
            continue  # the header
        if len(parts) < 3:
            raise DocumentError(f"{path.name} line {number} needs query-id, corpus-id and score separated by tabs.")
        try:
            score = int(parts[2])
        except ValueError:
            raise DocumentError(f"{path.name} line {number}: the score {parts[2].strip()!r} is not a whole number.") \
                from None
        if score > 0:
            qrels.setdefault(parts[0].strip(), {})[parts[1].strip()] = score
    return qrels


def load_beir(folder: str | Path) -> Dataset:
    root = Path(folder).expanduser()
    corpus = _jsonl(root / "corpus.jsonl", ("_id",))
    queries = {str(row["_id"]): str(row["text"]) for row in _jsonl(root / "queries.jsonl", ("_id", "text"))}
    qrels = _qrels(root / "qrels" / "test.tsv")
    if not corpus or not any(qid in queries for qid in qrels):
        raise DocumentError(f"{root} has no documents or no judged queries.")
    stat = (root / "corpus.jsonl").stat()
    return Dataset(root.resolve().name, corpus, queries, qrels, f"{stat.st_size}-{stat.st_mtime_ns}")


def _eval_source(dataset: Dataset, reindex: bool) -> tuple[int, bool]:
    """(source id, whether it must be indexed now)."""
    name = f"eval:{dataset.name}:{dataset.fingerprint}"
    with session_scope() as session:
        row = session.exec(select(DocSource).where(DocSource.kind == "eval", DocSource.name == name)).first()
        stale = session.exec(select(DocSource.id).where(DocSource.kind == "eval",
                                                        DocSource.name.startswith(f"eval:{dataset.name}:"),  # type: ignore[attr-defined]
                                                        DocSource.name != name)).all()
    for source_id in stale:  # an older copy of the same corpus
        _drop(source_id)
    if row is not None and not reindex and json.loads(row.checkpoint_json or "{}").get("complete"):
        assert row.id is not None
        return row.id, False
    if row is not None:
        assert row.id is not None
        _drop(row.id)
    return sources.create_eval(name), True


def _drop(source_id: int) -> None:
    with session_scope() as session:
        row = session.get(DocSource, source_id)
        if row is not None:
            session.delete(row)


def _index(source_id: int, dataset: Dataset, report: Callable[[str], None]) -> dict:
    started = time.perf_counter()
    chunks = 0
    with store.Writer(source_id) as writer:
        for start in range(0, len(dataset.corpus), BATCH_DOCS):
            batch = [store.NewDocument(str(row["_id"]), ParsedDocument(
                str(row.get("title") or ""), [Section("", str(row.get("text") or ""))], "text/plain"), version="1")
                for row in dataset.corpus[start:start + BATCH_DOCS] if str(row.get("text") or "").strip()]
            chunks += writer.write(batch)
            report(f"indexed {min(start + BATCH_DOCS, len(dataset.corpus))} of {len(dataset.corpus)} documents")
    seconds = time.perf_counter() - started
    figures = {"documents": len(dataset.corpus), "chunks": chunks, "seconds": round(seconds, 2),
               "chunks_per_second": round(chunks / seconds, 1) if seconds else 0.0}
    with session_scope() as session:
        row = session.get(DocSource, source_id)
        assert row is not None
        row.checkpoint_json = json.dumps({"complete": True, "indexing": figures})
        row.chunks, row.documents = chunks, len(dataset.corpus)
        session.add(row)
    return figures


def _doc_ids(source_id: int) -> dict[int, str]:
    """chunk id -> the dataset's document id."""
    with session_scope() as session:
        rows = session.exec(select(DocChunk.id, DocDocument.external_id)
                            .join(DocDocument, DocDocument.id == DocChunk.document_id)
                            .where(DocChunk.source_id == source_id)).all()
    return dict(rows)  # type: ignore[arg-type]


def _metrics(ranked: list[str], relevant: dict[str, int], k: int) -> dict[str, float]:
    found = {n: sum(1 for doc in ranked[:n] if doc in relevant) / len(relevant) for n in (1, 5, k)}
    mrr = next((1.0 / rank for rank, doc in enumerate(ranked[:k], start=1) if doc in relevant), 0.0)
    dcg = sum((2 ** relevant.get(doc, 0) - 1) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2 ** grade - 1) / math.log2(rank + 1) for rank, grade in enumerate(ideal, start=1))
    return {"recall@1": found[1], "recall@5": found[5], f"recall@{k}": found[k], f"mrr@{k}": mrr,
            f"ndcg@{k}": dcg / idcg if idcg else 0.0}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def evaluate(folder: str | Path, *, k: int = 10, reindex: bool = False,
             report: Callable[[str], None] = lambda _message: None) -> dict:
    """Indexes (or reuses) the corpus and scores the three retrieval modes."""
    if k < 5:
        raise DocumentError("Use --k 5 or more (recall@5 is always reported).")
    dataset = load_beir(folder)
    source_id, fresh = _eval_source(dataset, reindex)
    indexing = _index(source_id, dataset, report) if fresh else \
        json.loads(_checkpoint(source_id)).get("indexing", {}) | {"reused": True}
    owner = _doc_ids(source_id)
    judged = [(qid, text) for qid, text in dataset.queries.items() if dataset.qrels.get(qid)]
    results: dict[str, dict] = {}
    for mode in retrieval.MODES:
        totals: dict[str, float] = {}
        latencies: list[float] = []  # a whole query: embedding the question included
        for qid, text in judged:
            started = time.perf_counter()
            vector = embedder.embed([text])[0]
            hits = retrieval.retrieve([source_id], text, limit=k * 3, mode=mode, vector=vector)
            latencies.append((time.perf_counter() - started) * 1000)
            ranked = list(dict.fromkeys(owner[hit.chunk_id] for hit in hits if hit.chunk_id in owner))[:k]
            for name, value in _metrics(ranked, dataset.qrels[qid], k).items():
                totals[name] = totals.get(name, 0.0) + value
        results[mode] = {name: round(value / len(judged), 4) for name, value in totals.items()} | {
            "latency_ms_p50": round(statistics.median(latencies), 2),
            "latency_ms_p95": round(_percentile(latencies, 0.95), 2)}
        report(f"{mode}: nDCG@{k} {results[mode][f'ndcg@{k}']}")
    return {"dataset": dataset.name, "documents": len(dataset.corpus), "queries": len(judged), "k": k,
            "indexing": indexing, "modes": results}


def _checkpoint(source_id: int) -> str:
    with session_scope() as session:
        row = session.get(DocSource, source_id)
        return row.checkpoint_json if row is not None and row.checkpoint_json else "{}"
