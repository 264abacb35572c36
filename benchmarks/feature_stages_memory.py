"""Do branch A's feature stages grow with the corpus? Peak RSS and wall time of each rule at several test-split
sizes (issue 19, item 1).

Each size gets synthetic inputs, made here: a corpus holding `--train-factor` times as many other documents as
test ones (documents.parquet and tokens.zarr hold every split, as the corpus rules write them), two concept
mentions per document, the test split's float16 activation store as extract_activations writes it (L2-normalised
rows, its chunks and codec) and a TopK SAE with random weights. The rules then run in workflow order, each reading
what the one before wrote, each in a process of its own that reports its peak RSS (VmHWM) and wall time;
imports are inside the measurement, as in a Snakemake job.

    python benchmarks/feature_stages_memory.py --docs 2000 8000 32000
    python benchmarks/feature_stages_memory.py --lib /tmp/before   # another copy of lmscope, e.g. `git archive`
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from growth_table import growth_table

TOKENS_PER_DOC = 64
STAGES = ("top_contexts", "language_tendency", "language_tendency_by_token", "token_vectors", "granularity_sheet",
          "granularity", "example_features")


def make_inputs(root: Path, tokenizer: Path, n_test: int, train_factor: int, d: int, d_sae: int, k: int) -> None:
    """The corpus tables, the test split's store and the SAE of one size, under `root`."""
    # imported here: the parent stays small (a child's own peak is measured) and --lib picks the children's lmscope
    import numpy as np
    import polars as pl
    import zarr

    from lmscope.sae_checkpoints.activations import chunk_rows_for, compressor
    from lmscope.sae_checkpoints.sae import TopKSAE
    from lmscope.tokenizer import load_tokenizer, train_bpe

    if not tokenizer.exists():  # one for every size
        texts = ["The cat sat on the mat. 猫がいる。犬もいる。 1890年に"] * 50
        train_bpe(texts, vocab_size=400).save_pretrained(tokenizer)
    rng = np.random.default_rng(n_test)
    tok = load_tokenizer({"path": str(tokenizer)})
    vocab = np.array(sorted(set(tok.get_vocab().values()) - set(tok.all_special_ids)))
    n_all, offset = n_test * (1 + train_factor), n_test * train_factor  # the test split is the corpus's last part
    tokens = zarr.create_array(store=str(root / "tokens.zarr"), shape=(n_all, 1 + TOKENS_PER_DOC), dtype="int32",
                               chunks=(min(n_all, 16384), 1 + TOKENS_PER_DOC))  # as corpus.write
    for start in range(0, n_all, 16384):
        ids = rng.choice(vocab, size=(min(16384, n_all - start), 1 + TOKENS_PER_DOC)).astype(np.int32)
        ids[:, 0] = tok.bos_token_id
        tokens[start:start + len(ids)] = ids
    doc_ids = np.arange(n_all)
    pl.DataFrame({"doc_id": doc_ids, "lang": np.where(doc_ids % 2 == 0, "ja", "en"),
                  "split": np.where(doc_ids < offset, "train", "test"),
                  "text": [f"document {i} " * 20 for i in range(n_all)]}).write_parquet(root / "documents.parquet")
    mentions = np.repeat(doc_ids, 2)
    pl.DataFrame({"doc_id": mentions, "position": rng.integers(0, TOKENS_PER_DOC, len(mentions)),
                  "concept_id": [f"c{i % 500}" for i in range(len(mentions))],
                  "concept_type": [f"t{i % 20}" for i in range(len(mentions))],
                  "lang": np.where(mentions % 2 == 0, "ja", "en"),
                  "surface": [f"s{i % 700}" for i in range(len(mentions))]}).write_parquet(root / "concepts.parquet")
    rows = n_test * TOKENS_PER_DOC
    store = zarr.create_array(store=str(root / "test.zarr"), shape=(rows, d), dtype="float16",
                              chunks=(chunk_rows_for(d, 2, TOKENS_PER_DOC), d), compressors=compressor("zstd"))
    step = store.chunks[0] * 16
    for start in range(0, rows, step):
        x = rng.standard_normal((min(step, rows - start), d), dtype=np.float32)
        store[start:start + len(x)] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
    store.attrs.update({"tokens_per_doc": TOKENS_PER_DOC, "doc_id_offset": int(offset)})
    TopKSAE(d, d_sae, k, encoder_bias=True, seed=0).save(root / "sae", metadata={})


def run_stage(stage: str, root: Path, tokenizer: Path) -> None:
    """One rule's `run(...)` on the inputs under `root`, with the embedded default's parameters."""
    tok = {"path": str(tokenizer)}
    if stage == "top_contexts":
        from lmscope.sae_checkpoints import top_texts
        top_texts.run(sae=root / "sae", test=root / "test.zarr", contexts=root / "contexts.parquet",
                      features=root / "features.parquet", top_n=50, batch_docs=32, selection="top", threshold=0.7,
                      seed=0, device="cpu", threads=1)
    elif stage.startswith("language_tendency"):
        from lmscope.sae_checkpoints import language
        language.run(contexts=root / "contexts.parquet", features=root / "features.parquet",
                     documents=root / "documents.parquet", tokens=root / "tokens.zarr",
                     language=root / f"{stage}.parquet", tally_csv=root / f"{stage}.csv", threshold=0.9,
                     strict=False, by="token" if stage.endswith("by_token") else "document", tokenizer=tok,
                     ckpt="step-1")
    elif stage == "token_vectors":
        from lmscope.sae_checkpoints import token_vectors
        token_vectors.run(test=root / "test.zarr", tokens=root / "tokens.zarr", vectors=root / "vectors.parquet",
                          max_docs=2000, seed=0, tokenizer=tok)
    elif stage == "granularity_sheet":
        from lmscope.sae_checkpoints import labelling
        labelling.run(language=root / "language_tendency.parquet", features=root / "features.parquet",
                      contexts=root / "contexts.parquet", documents=root / "documents.parquet",
                      tokens=root / "tokens.zarr", sheet=root / "sheet.csv", page=root / "sheet.html",
                      n_features=100, min_texts=10, seed=0, texts_shown=10, tokenizer=tok, ckpt="step-1")
    elif stage == "granularity":
        from lmscope.sae_checkpoints import granularity_table
        granularity_table.run(sheet=root / "sheet.csv", contexts=root / "contexts.parquet",
                              tokens=root / "tokens.zarr", concepts=root / "concepts.parquet",
                              vectors=root / "vectors.parquet", granularity=root / "granularity.parquet",
                              token_share=0.8, related_percentile=0.99, truth_share=0.8, seed=0, tokenizer=tok)
    elif stage == "example_features":
        from lmscope.sae_checkpoints import feature_cards
        feature_cards.run(contexts=[root / "contexts.parquet"] * 3, features=[root / "features.parquet"] * 3,
                          language=[root / "language_tendency.parquet"] * 3,
                          granularity=[root / "granularity.parquet"] * 3, documents=root / "documents.parquet",
                          tokens=root / "tokens.zarr", html_page=root / "fig6.html", pdf=root / "fig6.pdf",
                          csv=root / "fig6.csv", stages={"early": "step-1", "middle": "step-2", "final": "step-3"},
                          n_features=6, texts=3, seed=0, pinned={}, tokenizer=tok, fig="fig6")
    else:
        raise ValueError(f"unknown stage {stage!r}")


def measured(args: list[str], lib: str | None) -> dict:
    """Run this script's `--child` mode in a fresh process; its report (peak RSS, wall time) as a dict."""
    env = dict(os.environ)
    if lib:
        env["PYTHONPATH"] = os.pathsep.join([lib, env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, __file__, "--child", *args], env=env, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(args) -> None:
    t0 = time.perf_counter()
    root, tokenizer = Path(args.root), Path(args.tokenizer)
    if args.make:
        make_inputs(root, tokenizer, args.make, args.train_factor, args.d, args.d_sae, args.k)
    else:
        run_stage(args.stage, root, tokenizer)
    print(json.dumps({"rss_mb": peak_rss_mb(), "wall_s": time.perf_counter() - t0}))


def peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM, which starts afresh at exec. (getrusage's ru_maxrss keeps the peak of
    the process before exec, so a child forked from a large parent reports at least the parent's size.)"""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[2000, 8000, 32000], help="test-split documents")
    parser.add_argument("--train-factor", type=int, default=4, help="other documents per test document")
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--d-sae", type=int, default=2048)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--lib", help="a directory to put first on the children's PYTHONPATH")
    parser.add_argument("--work", help="where to make the inputs (default: a temporary directory)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--make", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        tokenizer = Path(work) / "tokenizer"
        results = {}
        for n in args.docs:
            root = Path(work) / str(n)
            root.mkdir()
            shape = ["--d", str(args.d), "--d-sae", str(args.d_sae), "--k", str(args.k)]
            measured(["--make", str(n), "--train-factor", str(args.train_factor), "--root", str(root),
                      "--tokenizer", str(tokenizer), *shape], lib=None)
            for stage in args.stages:
                results[(stage, n)] = measured(["--stage", stage, "--root", str(root), "--tokenizer", str(tokenizer)],
                                               args.lib)
                print(f"{stage} {n}: {results[(stage, n)]}", file=sys.stderr, flush=True)
    print(growth_table(results, args.stages, args.docs, " docs"))


if __name__ == "__main__":
    main()
