# Branch A, stage 5 (METHODS A4-A5): each feature's texts on the test split (its top activating ones, or the
# authors' threshold rule), and its language tendency by the 90% rule.


rule top_contexts:
    params:
        top_n=config["features"]["top_n"],
        batch_docs=config["features"]["batch_docs"],
        selection=config["features"]["selection"],
        threshold=config["features"]["threshold"],
        seed=config["features"]["seed"],
        device=config["device"],
    input:
        sae=lambda w: sae_dir(w.model, w.ckpt),
        test="results/activations/{model}/{ckpt}/test.zarr",
    output:
        contexts="results/features/{model}/{ckpt}/contexts.parquet",
        features="results/features/{model}/{ckpt}/features.parquet",
    log:
        "results/logs/top_contexts/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/top_contexts/{model}/{ckpt}.tsv"
    threads: 1  # one job per checkpoint: side-by-side jobs beat threads (README, Timing)
    priority: STORE_READERS_PRIORITY  # with activations.keep false, before the next extraction
    resources:
        mem_mb=4000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/top_contexts.py"


rule language_tendency:
    params:
        threshold=config["language"]["threshold"],
        strict=config["language"]["strict"],
        by=config["language"]["by"],
        tokenizer=lambda w: tokenizer_source(MODELS[w.model]["corpus"]),
    input:
        contexts="results/features/{model}/{ckpt}/contexts.parquet",
        features="results/features/{model}/{ckpt}/features.parquet",
        documents=lambda w: f"{corpus_dir(MODELS[w.model]['corpus'])}/documents.parquet",
        tokens=lambda w: f"{corpus_dir(MODELS[w.model]['corpus'])}/tokens.zarr",
    output:
        language="results/features/{model}/{ckpt}/language.parquet",
        tally_csv="results/features/{model}/{ckpt}/language_tally.csv",
    log:
        "results/logs/language_tendency/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/language_tendency/{model}/{ckpt}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/language_tendency.py"
