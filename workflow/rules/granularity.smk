# Branch A, stage 6 (METHODS A6): semantic granularity of a sample of features per checkpoint — a labelling
# sheet for people, an automatic classifier, its accuracy against planted truth, and fig5.
# Lookups of this file: each model's final checkpoint (whose activations give the token vectors), the first model's
# granularity table per checkpoint in training order (fig5), and the filled labelling sheets by checkpoint.
FINAL_CHECKPOINT = {model: list(checkpoint_entries(model))[-1] for model in MODELS}
GRANULARITY_TABLES = [
    f"results/features/{FIGURE_MODEL}/{c}/granularity.parquet" for c in checkpoint_entries(FIGURE_MODEL)
]
PEOPLE_SHEETS = {(FIGURE_MODEL, ckpt): {"people": path} for ckpt, path in config["granularity"]["sheets"].items()}


rule granularity_sheet:
    params:
        n_features=config["granularity"]["features"],
        min_texts=config["granularity"]["min_texts"],
        seed=config["granularity"]["seed"],
        texts_shown=config["granularity"]["sheet_texts"],
        tokenizer=lambda w: tokenizer_source(MODELS[w.model]["corpus"]),
    input:
        language="results/features/{model}/{ckpt}/language.parquet",
        features="results/features/{model}/{ckpt}/features.parquet",
        contexts="results/features/{model}/{ckpt}/contexts.parquet",
        documents=lambda w: f"{corpus_of(w.model)}/documents.parquet",
        tokens=lambda w: f"{corpus_of(w.model)}/tokens.zarr",
        trained_tokenizer=lambda w: trained_tokenizer(MODELS[w.model]["corpus"]),
    output:
        sheet="results/features/{model}/{ckpt}/granularity_sheet.csv",
        page="results/features/{model}/{ckpt}/granularity_sheet.html",
    log:
        "results/logs/granularity_sheet/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/granularity_sheet/{model}/{ckpt}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/granularity_sheet.py"


rule token_vectors:
    # the classifier's evidence: how the model's final checkpoint represents each unit of text
    params:
        max_docs=config["granularity"]["vector_docs"],
        seed=config["granularity"]["seed"],
        tokenizer=lambda w: tokenizer_source(MODELS[w.model]["corpus"]),
    input:
        test=lambda w: f"results/activations/{w.model}/{FINAL_CHECKPOINT[w.model]}/test.zarr",
        tokens=lambda w: f"{corpus_of(w.model)}/tokens.zarr",
        trained_tokenizer=lambda w: trained_tokenizer(MODELS[w.model]["corpus"]),
    output:
        vectors="results/features/{model}/token_vectors.parquet",
    log:
        "results/logs/token_vectors/{model}.log",
    benchmark:
        "results/benchmarks/token_vectors/{model}.tsv"
    threads: 1
    priority: STORE_READERS_PRIORITY  # with activations.keep false, before the next extraction
    resources:
        mem_mb=4000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/token_vectors.py"


rule granularity:
    params:
        token_share=config["granularity"]["token_share"],
        related_percentile=config["granularity"]["related_percentile"],
        truth_share=config["granularity"]["truth_share"],
        seed=config["granularity"]["seed"],
        tokenizer=lambda w: tokenizer_source(MODELS[w.model]["corpus"]),
    input:
        unpack(lambda w: PEOPLE_SHEETS.get((w.model, w.ckpt), {})),  # a filled sheet, when given
        sheet="results/features/{model}/{ckpt}/granularity_sheet.csv",
        contexts="results/features/{model}/{ckpt}/contexts.parquet",
        tokens=lambda w: f"{corpus_of(w.model)}/tokens.zarr",
        concepts=lambda w: f"{corpus_of(w.model)}/concepts.parquet",
        vectors="results/features/{model}/token_vectors.parquet",
        trained_tokenizer=lambda w: trained_tokenizer(MODELS[w.model]["corpus"]),
    output:
        granularity="results/features/{model}/{ckpt}/granularity.parquet",
    log:
        "results/logs/granularity/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/granularity/{model}/{ckpt}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/granularity.py"


rule fig5:
    params:
        checkpoints=lambda w: list(checkpoint_entries(FIGURE_MODEL)),
    input:
        tables=GRANULARITY_TABLES,
    output:
        pdf=report("results/figures/fig5.pdf", caption="../report/fig5.rst", category="Branch A: features"),
        csv="results/figures/fig5.csv",
    log:
        "results/logs/fig5.log",
    benchmark:
        "results/benchmarks/fig5.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/fig5.py"


rule granularity_accuracy:
    # only for a corpus with planted concept labels (the synthetic source)
    params:
        checkpoints=lambda w: list(checkpoint_entries(FIGURE_MODEL)),
    input:
        tables=GRANULARITY_TABLES,
    output:
        csv="results/figures/granularity_accuracy.csv",
        confusion="results/figures/granularity_confusion.csv",
        pdf=report(
            "results/figures/granularity_accuracy.pdf",
            caption="../report/granularity_accuracy.rst",
            category="Branch A: features",
        ),
    log:
        "results/logs/granularity_accuracy.log",
    benchmark:
        "results/benchmarks/granularity_accuracy.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/granularity_accuracy.py"


rule granularity_agreement:
    # only for checkpoints with a filled labelling sheet (granularity.sheets)
    params:
        checkpoints=lambda w: labelled_checkpoints(),
    input:
        tables=lambda w: [f"results/features/{FIGURE_MODEL}/{c}/granularity.parquet" for c in labelled_checkpoints()],
    output:
        csv="results/figures/granularity_agreement.csv",
    log:
        "results/logs/granularity_agreement.log",
    benchmark:
        "results/benchmarks/granularity_agreement.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/granularity_agreement.py"
