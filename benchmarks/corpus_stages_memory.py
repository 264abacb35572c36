"""Do the corpus rules grow with the corpus? Peak RSS and wall time of corpus_documents, corpus_tokenizer and
corpus_tokens at several sizes of the synthetic source (issue 19, item 1).

Each rule's `run(...)` runs in a process of its own that reports its peak RSS (getrusage) and wall time, reading
what the one before wrote, with the embedded default's parameters; imports are inside the measurement, as in a
Snakemake job. Sizes are documents per language (the corpus has twice as many).

    python benchmarks/corpus_stages_memory.py --docs 10000 40000 160000
    python benchmarks/corpus_stages_memory.py --lib /tmp/before   # another copy of lmscope, e.g. `git archive`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from growth_table import growth_table

STAGES = ("corpus_documents", "corpus_tokenizer", "corpus_tokens")


def run_stage(stage: str, root: Path, docs_per_language: int) -> None:
    """One rule's `run(...)` on the files under `root`, with the embedded default's parameters."""
    from lmscope.sae_checkpoints import corpus

    split = {"train": 0.8, "validation": 0.1, "test": 0.1}
    if stage == "corpus_documents":
        corpus.run_documents(sources=[{"kind": "synthetic", "n_documents": docs_per_language, "seed": 0}],
                             languages=["ja", "en"], max_chars=4000, split=split, seed=0, key="corpora[0]",
                             documents=root / "sources.parquet", spans=root / "spans.parquet",
                             stats=root / "sources.json")
    elif stage == "corpus_tokenizer":
        corpus.run_tokenizer(sources=root / "sources.parquet", tokenizer=root / "tokenizer", vocab_size=2048,
                             min_frequency=2)
    elif stage == "corpus_tokens":
        corpus.run_tokens(sources=root / "sources.parquet", spans=root / "spans.parquet",
                          documents=root / "documents.parquet", tokens=root / "tokens.zarr",
                          concepts=root / "concepts.parquet", stats=root / "stats.json",
                          tokenizer={"path": str(root / "tokenizer")}, bos_token_id=None, tokens_per_doc=64,
                          languages=["ja", "en"], balance=True, seed=0, key="corpora[0]")
    else:
        raise ValueError(f"unknown stage {stage!r}")


def measured(stage: str, root: Path, docs_per_language: int, lib: str | None) -> dict:
    """Run this script's `--child` mode in a fresh process; its report (peak RSS, wall time) as a dict."""
    env = dict(os.environ)
    if lib:
        env["PYTHONPATH"] = os.pathsep.join([lib, env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, __file__, "--child", stage, str(root), str(docs_per_language)], env=env,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        t0 = time.perf_counter()
        run_stage(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          "wall_s": time.perf_counter() - t0}))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[10000, 40000, 160000], help="documents per language")
    parser.add_argument("--lib", help="a directory to put first on the children's PYTHONPATH")
    parser.add_argument("--work", help="where to write the corpora (default: a temporary directory)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        for n in args.docs:
            root = Path(work) / str(n)
            for stage in STAGES:
                results[(stage, n)] = measured(stage, root, n, args.lib)
                print(f"{stage} {n}: {results[(stage, n)]}", file=sys.stderr, flush=True)
    print(growth_table(results, STAGES, args.docs, "/lang"))


if __name__ == "__main__":
    main()
