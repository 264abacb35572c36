# Branch A, stage 1 (METHODS A1): documents from the configured sources, split by document; a tokenizer
# trained on the training split when the corpus asks for one; BOS + first tokens_per_doc tokens per document,
# languages balanced 1:1, planted concept labels aligned to token positions.


rule corpus_documents:
    params:
        sources=lambda w: CORPORA[w.corpus]["sources"],
        languages=lambda w: CORPORA[w.corpus]["languages"],
        max_chars=lambda w: CORPORA[w.corpus]["max_chars"],
        split=lambda w: CORPORA[w.corpus]["split"],
        seed=lambda w: CORPORA[w.corpus]["seed"],
        key=lambda w: CORPUS_KEY[w.corpus],
    output:
        documents="results/corpus/{corpus}/sources.parquet",
        spans="results/corpus/{corpus}/spans.parquet",
        stats="results/corpus/{corpus}/sources.json",
    log:
        "results/logs/corpus_documents/{corpus}.log",
    benchmark:
        "results/benchmarks/corpus_documents/{corpus}.tsv"
    threads: 1
    resources:
        mem_mb=2000,  # streams: 0.30 GB peak at 320k synthetic documents, flat in size (benchmarks/README.md)
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/corpus_documents.py"


rule corpus_tokenizer:
    params:
        vocab_size=lambda w: CORPORA[w.corpus]["tokenizer"]["vocab_size"],
        min_frequency=lambda w: CORPORA[w.corpus]["tokenizer"]["min_frequency"],
    input:
        sources="results/corpus/{corpus}/sources.parquet",
    output:
        tokenizer=directory("results/corpus/{corpus}/tokenizer"),
    log:
        "results/logs/corpus_tokenizer/{corpus}.log",
    benchmark:
        "results/benchmarks/corpus_tokenizer/{corpus}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/corpus_tokenizer.py"


rule corpus_tokens:
    params:
        tokenizer=lambda w: tokenizer_source(w.corpus),
        bos_token_id=lambda w: CORPORA[w.corpus]["tokenizer"].get("bos_token_id"),
        tokens_per_doc=lambda w: CORPORA[w.corpus]["tokens_per_doc"],
        languages=lambda w: CORPORA[w.corpus]["languages"],
        balance=lambda w: CORPORA[w.corpus]["balance"],
        seed=lambda w: CORPORA[w.corpus]["seed"],
        key=lambda w: CORPUS_KEY[w.corpus],
    input:
        sources="results/corpus/{corpus}/sources.parquet",
        spans="results/corpus/{corpus}/spans.parquet",
        trained_tokenizer=lambda w: trained_tokenizer(w.corpus),
    output:
        documents="results/corpus/{corpus}/documents.parquet",
        tokens=directory("results/corpus/{corpus}/tokens.zarr"),
        concepts="results/corpus/{corpus}/concepts.parquet",
        stats="results/corpus/{corpus}/stats.json",
    log:
        "results/logs/corpus_tokens/{corpus}.log",
    benchmark:
        "results/benchmarks/corpus_tokens/{corpus}.tsv"
    threads: 2
    resources:
        mem_mb=3000,  # streams: 0.66 GB peak at 320k synthetic documents, flat in size (benchmarks/README.md)
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/corpus_tokens.py"
