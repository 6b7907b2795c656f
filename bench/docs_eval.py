"""`docs eval` on a BEIR dataset in a fresh data dir, figures to bench/results/docs_eval_<name>.json:
recall@1/5/10, MRR@10, nDCG@10 of dense, keyword and hybrid retrieval, indexing throughput
and query latency (the question's embedding included).

    .venv/bin/python -m bench.docs_eval [--beir ../shared/datasets/cranfield]
"""

from __future__ import annotations

import argparse

from bench.common import fresh, machine, write
from services.settings import REPO_ROOT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", default=str(REPO_ROOT.parent / "shared" / "datasets" / "cranfield"))
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    fresh(None)
    from services.docs import evaluation

    figures = evaluation.evaluate(args.beir, k=args.k, report=print)
    write(f"docs_eval_{figures['dataset']}", {"machine": machine(), **figures})


if __name__ == "__main__":
    main()
