"""Doc Q&A speed: indexing throughput and peak memory for 10,000 short chunks, and query
latency (question embedding included) at 10,000 and 100,000 chunks, dense, keyword and
hybrid, on SQLite and PostgreSQL. Also Qdrant's embedded local mode on the same 100,000
vectors, which is why dense search does not use it (services/search/dense.py).

Texts are real: "short" chunks are single Cranfield sentences and paragraphs of the
standard library's docstrings (60-160 characters), grouped ten to a document; "typical"
ones are one or two Cranfield sentences (150-400 characters), whose indexing speed is
reported too. The questions are Cranfield's queries. The 10,000
chunks go through the product's indexing path (chunking, embedding, one transaction per
batch); the 90,000 more for the 100k figures are copies of them with shuffled sentences
and slightly perturbed vectors, inserted straight into the table (embedding 100,000
chunks would take ten minutes and measure nothing new); on PostgreSQL they are followed by
VACUUM ANALYZE, as autovacuum would do. Each indexing figure comes from a fresh forked
process, as an RQ work horse indexes (see _in_child). Targets: >= 150 chunks/s, query p95 < 100 ms at 100k.

    .venv/bin/python -m bench.docs_retrieval [--queries 200] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import resource
import sysconfig
import time
from pathlib import Path

import numpy as np

from bench.common import fresh, machine, on_postgres, percentiles, write
from services.settings import REPO_ROOT

CRANFIELD = REPO_ROOT.parent / "shared" / "datasets" / "cranfield"
CHUNKS = 10_000
TYPICAL = 3_000
SCALE = 100_000
PER_DOCUMENT = 10
SEED = 5


def _sentences() -> list[str]:
    out: list[str] = []
    for line in (CRANFIELD / "corpus.jsonl").read_text().splitlines():
        out += [s.strip() for s in re.split(r"(?<=\.)\s+", json.loads(line)["text"]) if s.strip()]
    return out


def _docstring_paragraphs() -> list[str]:
    """Paragraphs of the standard library's docstrings: real, short technical text."""
    out: list[str] = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node):
                out += [" ".join(p.split()) for p in ast.get_docstring(node).split("\n\n")]
    return out


def passages(kind: str, count: int) -> list[str]:
    """`short`: single sentences or docstring paragraphs of 60-160 characters; `typical`: one or
    two Cranfield sentences of 150-400 characters, the size of a paragraph-sized chunk."""
    if kind == "short":
        pool = [t for t in _sentences() + _docstring_paragraphs() if 60 <= len(t) <= 160]
    else:
        pool, buffer = [], ""
        for sentence in _sentences():
            buffer = f"{buffer} {sentence}".strip()
            if len(buffer) >= 150:
                pool.append(buffer[:400])
                buffer = ""
    return list(dict.fromkeys(pool))[:count]


def questions(limit: int) -> list[str]:
    return [json.loads(line)["text"] for line in (CRANFIELD / "queries.jsonl").read_text().splitlines()][:limit]


def index_real(texts: list[str]) -> tuple[int, float]:
    """The product path: NewDocument (chunking) + store.Writer (embedding, SQL) in job-sized batches."""
    from services.docs import sources, store
    from services.search.documents import ParsedDocument, Section

    source_id = sources.create_eval("bench")
    documents = [store.NewDocument(f"doc-{i}", ParsedDocument(f"Report {i}", [Section(f"Part {j}", text) for j, text in
                                                                            enumerate(texts[i:i + PER_DOCUMENT])],
                                                              "text/plain"), version="1")
                 for i in range(0, len(texts), PER_DOCUMENT)]
    started = time.perf_counter()
    batch: list = []
    with store.Writer(source_id) as writer:
        for document in documents:
            batch.append(document)
            if sum(len(d.chunks) for d in batch) >= 64:
                writer.write(batch)
                batch = []
        if batch:
            writer.write(batch)
    return source_id, time.perf_counter() - started


def scale_to(source_id: int, total: int) -> None:
    """Copies of the real chunks (shuffled sentences, perturbed unit vectors) up to `total`."""
    from sqlalchemy import func, insert, select

    from services.db import session_scope
    from services.db.models import DocChunk, DocDocument, DocSource

    rng = np.random.default_rng(SEED)
    with session_scope() as session:
        rows = session.execute(select(DocChunk.title, DocChunk.heading, DocChunk.text, DocChunk.embedding)
                               .where(DocChunk.source_id == source_id)).all()
        have = session.execute(select(func.count()).select_from(DocChunk).where(DocChunk.source_id == source_id)).scalar()
    copy = 0
    while have < total:
        copy += 1
        with session_scope() as session:
            document = DocDocument(source_id=source_id, external_id=f"copy-{copy}", title=f"Copy {copy}")
            session.add(document)
            session.flush()
            batch = []
            for ordinal, (title, heading, text, blob) in enumerate(rows[: total - have]):
                words = text.split()
                rng.shuffle(words)
                vector = np.frombuffer(blob, dtype=np.float32) + rng.normal(0, 0.02, 384).astype(np.float32)
                vector /= np.linalg.norm(vector)
                batch.append({"source_id": source_id, "document_id": document.id, "ordinal": ordinal, "title": title,
                              "heading": heading, "text": " ".join(words), "page": None, "start": 0, "end": len(text),
                              "embedding": vector.astype(np.float32).tobytes()})
            session.execute(insert(DocChunk), batch)
            have += len(batch)
    with session_scope() as session:
        row = session.get(DocSource, source_id)
        row.revision += 1  # the matrix of this process reloads on the next query
        session.add(row)


def latency(source_id: int, asked: list[str]) -> dict:
    from services.search import embedder, retrieval

    figures = {}
    for mode in retrieval.MODES:
        samples = []
        retrieval.retrieve([source_id], asked[0], mode=mode)  # first query loads the matrix
        for question in asked:
            started = time.perf_counter()
            retrieval.retrieve([source_id], question, mode=mode, vector=embedder.embed([question])[0])
            samples.append(time.perf_counter() - started)
        figures[mode] = percentiles(samples)
    started = time.perf_counter()
    for question in asked:
        embedder.embed([question])
    figures["embedding_only_ms_mean"] = round((time.perf_counter() - started) / len(asked) * 1000, 2)
    return figures


def run_database(url: str | None, texts: list[str], asked: list[str]) -> dict:
    fresh(url)
    from services.search import dense, embedder, keyword

    dense.reset_dense()
    keyword.reset_frequencies()
    indexed = indexing_of(texts)
    source_id, seconds = indexed["source_id"], indexed["seconds"]
    embedder.embed(["warm up the model"])
    result = {"indexing": {"chunks": len(texts), "seconds": round(seconds, 2),
                           "chunks_per_second": round(len(texts) / seconds, 1)}}
    result["at_10k"] = latency(source_id, asked)
    started = time.perf_counter()
    scale_to(source_id, SCALE)
    if url:
        # What autovacuum does after so many inserts: planner statistics (the keyword search
        # reads word shares from them) and the visibility map.
        from services.db import get_engine
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE doc_chunk")
    keyword.reset_frequencies()  # its chunk count is remembered for ten minutes
    result["scale_insert_seconds"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    from services.search import retrieval
    retrieval.retrieve([source_id], asked[0], mode="dense")
    result["first_query_100k_load_seconds"] = round(time.perf_counter() - started, 2)
    result["at_100k"] = latency(source_id, asked)
    return result


def qdrant_local(asked_vectors: np.ndarray, total: int) -> dict:
    """The same search in Qdrant's embedded local mode (in memory)."""
    from qdrant_client import QdrantClient, models

    rng = np.random.default_rng(SEED)
    vectors = rng.normal(size=(total, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    client = QdrantClient(":memory:")
    client.create_collection("bench", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    started = time.perf_counter()
    for start in range(0, total, 1000):
        client.upsert("bench", points=models.Batch(ids=list(range(start, start + 1000)),
                                                   vectors=vectors[start:start + 1000].tolist()), wait=True)
    upsert = time.perf_counter() - started
    samples = []
    for vector in asked_vectors:
        started = time.perf_counter()
        client.query_points("bench", query=vector.tolist(), limit=100)
        samples.append(time.perf_counter() - started)
    matrix = []
    for vector in asked_vectors:
        started = time.perf_counter()
        scores = vectors @ vector
        np.argpartition(-scores, 100)[:100]
        matrix.append(time.perf_counter() - started)
    return {"points": total, "upsert_seconds": round(upsert, 1), "qdrant_local_search": percentiles(samples),
            "numpy_matrix_search": percentiles(matrix)}


def throughput_of(texts: list[str]) -> dict:
    """Indexing speed for paragraph-sized chunks, for comparison with the short ones."""
    fresh(None)
    seconds = indexing_of(texts)["seconds"]
    return {"chunks": len(texts), "mean_chunk_chars": round(sum(map(len, texts)) / len(texts)),
            "chunks_per_second": round(len(texts) / seconds, 1)}


def _in_child(work) -> dict:
    """work()'s JSON-able result, computed in a forked child: a fresh process, as an RQ work
    horse indexes in. In one long process, indexing short chunks after paragraph-sized ones
    ran at 136-142 chunks/s where a fresh process did 163-166 (the same 10,000 chunks)."""
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        from services.db import get_engine
        get_engine().dispose(close=False)  # the parent's connections stay the parent's
        os.write(write_end, json.dumps(work()).encode())
        os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)


def indexing_of(texts: list[str]) -> dict:
    """Indexing the texts into the current database in a fresh child; the source id and time."""
    def work() -> dict:
        from services.search import embedder
        embedder.embed(["warm up the model"])
        source_id, seconds = index_real(texts)
        return {"source_id": source_id, "seconds": seconds}
    return _in_child(work)


def peak_memory_of_indexing(texts: list[str]) -> dict:
    """Indexing 10k chunks in a fresh child: its peak RSS, and the peak after loading the model only."""
    def work() -> dict:
        fresh(None)
        from services.search import embedder
        embedder.embed(["load the model"])
        model_only = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        index_real(texts)
        total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"model_loaded_mb": round(model_only / 1024, 1), "after_indexing_mb": round(total / 1024, 1)}
    return _in_child(work)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    random.seed(SEED)
    texts = passages("short", CHUNKS)
    asked = questions(args.queries)
    results: dict = {"machine": machine(), "chunks": len(texts),
                     "mean_chunk_chars": round(sum(map(len, texts)) / len(texts)),
                     "peak_rss": peak_memory_of_indexing(texts),
                     "typical_chunks": throughput_of(passages("typical", TYPICAL))}
    results["sqlite"] = run_database(None, texts, asked)
    if not args.skip_postgres:
        results["postgresql"] = on_postgres(lambda url: run_database(url, texts, asked))
    from services.search import embedder
    results["vector_search_100k"] = qdrant_local(np.array(embedder.embed(asked[:50]), dtype=np.float32), SCALE)
    write("docs_retrieval", results)


if __name__ == "__main__":
    main()
