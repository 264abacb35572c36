# Branch A, stage 3 (METHODS A1-A2): hidden_states[layer] of every document window, BOS dropped and
# L2-normalised, as one Zarr store per split (row = doc * tokens_per_doc + position). One job per checkpoint,
# so that each model is loaded once for its three splits.
# Lookups of this file: each model's config key (for messages), and what its checkpoints wait for (the training
# output, for a model trained here).
MODEL_KEY = {m["name"]: f"models[{i}]" for i, m in enumerate(config["models"])}
TRAINED_MODEL_DIR = {name: [f"results/models/{name}"] if "train" in m else [] for name, m in MODELS.items()}


rule extract_activations:
    params:
        checkpoint=lambda w: checkpoint_entries(w.model)[w.ckpt],
        layer=lambda w: MODELS[w.model]["layer"],
        key=lambda w: f"{MODEL_KEY[w.model]}.layer",
        corpus=lambda w: MODELS[w.model]["corpus"],
        normalize=config["activations"]["normalize"],
        store_dtype=config["activations"]["dtype"],
        compression=config["activations"]["compression"],
        batch_size=config["activations"]["batch_size"],
        device=config["device"],
        dtype=config["dtype"],
    input:
        tokens=lambda w: f"{corpus_dir(MODELS[w.model]['corpus'])}/tokens.zarr",
        trained_model=lambda w: TRAINED_MODEL_DIR[w.model],
    output:
        train=directory("results/activations/{model}/{ckpt}/train.zarr"),
        validation=directory("results/activations/{model}/{ckpt}/validation.zarr"),
        test=directory("results/activations/{model}/{ckpt}/test.zarr"),
        throughput="results/activations/{model}/{ckpt}/throughput.json",
    log:
        "results/logs/extract_activations/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/extract_activations/{model}/{ckpt}.tsv"
    threads: 1  # one job per checkpoint: side-by-side jobs beat threads (README, Timing)
    resources:
        mem_mb=8000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/extract_activations.py"
