# Branch A, stage 2 (METHODS A2): a small Llama trained here, saved at log-spaced steps. Checkpoints named
# by a local path or a hub repo + revision need no rule: later stages load them with from_pretrained.


rule train_tinylm:
    params:
        train=lambda w: MODELS[w.model]["train"],
        steps=lambda w: sorted(step_number(c) for c in MODELS[w.model]["checkpoints"]),
        tokenizer=lambda w: tokenizer_source(MODELS[w.model]["corpus"]),
        bos_token_id=lambda w: CORPORA[MODELS[w.model]["corpus"]]["tokenizer"].get("bos_token_id"),
        key=lambda w: f"{CORPUS_KEY[MODELS[w.model]['corpus']]}.tokenizer",
        device=config["device"],
    input:
        documents=lambda w: f"{corpus_dir(MODELS[w.model]['corpus'])}/documents.parquet",
        trained_tokenizer=lambda w: trained_tokenizer(MODELS[w.model]["corpus"]),
    output:
        checkpoints=directory("results/models/{model}"),
    log:
        "results/logs/train_tinylm/{model}.log",
    benchmark:
        "results/benchmarks/train_tinylm/{model}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/train_tinylm.py"
