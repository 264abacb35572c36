# The static feature browser (issues 5, 19): a page per checkpoint with its texts in shards in the folder beside it,
# and an index across checkpoints; each feature links to its matches in the neighbouring checkpoints (issue 22).
# Lookups of this file: the pages (a checkpoint's neighbours: NEIGHBOURS in common.smk).
BROWSER_PAGES = {
    model: [f"results/browser/{model}/{ckpt}.html" for ckpt in checkpoint_entries(model)] for model in MODELS
}


rule browser_page:
    params:
        texts_per_feature=config["browser"]["texts_per_feature"],
        tokenizer=lambda w: tokenizer_source(MODELS[w.model]["corpus"]),
        neighbours=lambda w: NEIGHBOURS[w.model][w.ckpt],
    input:
        contexts="results/features/{model}/{ckpt}/contexts.parquet",
        features="results/features/{model}/{ckpt}/features.parquet",
        language="results/features/{model}/{ckpt}/language.parquet",
        granularity="results/features/{model}/{ckpt}/granularity.parquet",
        documents=lambda w: f"{corpus_of(w.model)}/documents.parquet",
        tokens=lambda w: f"{corpus_of(w.model)}/tokens.zarr",
        trained_tokenizer=lambda w: trained_tokenizer(MODELS[w.model]["corpus"]),
        previous_matches=lambda w: [
            MATCHES[w.model][(n, w.ckpt)] for n in [NEIGHBOURS[w.model][w.ckpt].get("previous")] if n
        ],
        next_matches=lambda w: [MATCHES[w.model][(w.ckpt, n)] for n in [NEIGHBOURS[w.model][w.ckpt].get("next")] if n],
    output:
        page=report(
            "results/browser/{model}/{ckpt}.html",
            caption="../report/browser_page.rst",
            category="Feature browser",
            labels={"model": "{model}", "checkpoint": "{ckpt}"},
        ),
        shards=directory("results/browser/{model}/{ckpt}"),
    log:
        "results/logs/browser_page/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/browser_page/{model}/{ckpt}.tsv"
    threads: 1
    resources:
        mem_mb=2000,  # 32,768 features x 50 texts: 0.94 GB peak (benchmarks/README.md, feature browser)
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/browser_page.py"


rule browser_index:
    params:
        checkpoints=lambda w: list(checkpoint_entries(w.model)),
    input:
        language=lambda w: [f"results/features/{w.model}/{c}/language.parquet" for c in checkpoint_entries(w.model)],
        pages=lambda w: BROWSER_PAGES[w.model],
    output:
        index=report(
            "results/browser/{model}/index.html",
            caption="../report/browser_index.rst",
            category="Feature browser",
            labels={"model": "{model}", "checkpoint": "index (all checkpoints)"},
        ),
    log:
        "results/logs/browser_index/{model}.log",
    benchmark:
        "results/benchmarks/browser_index/{model}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/browser_index.py"
