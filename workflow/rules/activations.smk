# Branch A, stage 3 (METHODS A1-A2): hidden_states[layer] of every document window, BOS dropped and
# L2-normalised, as one Zarr store per split (row = doc * tokens_per_doc + position). One job per checkpoint,
# so that each model is loaded once for its three splits.
# Before any of them, one preflight checks that the disk holds every store still to be written (README, Disk for
# activations).
# Lookups of this file: each model's config key (for messages), what its checkpoints wait for (the training
# output, for a model trained here), and what the preflight sums: per model, the tokens its stores follow, where
# its d comes from (the train block, else its last checkpoint's config.json) and its checkpoints' stores.
MODEL_KEY = {m["name"]: f"models[{i}]" for i, m in enumerate(config["models"])}
TRAINED_MODEL_DIR = {name: [f"results/models/{name}"] if "train" in m else [] for name, m in MODELS.items()}
PLANNED_STORES = {
    name: {
        "tokens": f"{corpus_of(name)}/tokens.zarr",
        **(
            {"hidden_size": m["train"]["hidden_size"]}
            if "train" in m
            else {"config": list(checkpoint_entries(name).values())[-1]}
        ),
        "checkpoints": {ckpt: activation_stores(name, ckpt) for ckpt in checkpoint_entries(name)},
    }
    for name, m in MODELS.items()
}


rule activations_preflight:
    # params: only what sets the stores' sizes, so that no other edit reruns it; run by Snakemake itself (on a
    # cluster's login node), a second's work that should not wait in a queue
    localrule: True
    params:
        models=PLANNED_STORES,
        keep=KEEP_STORES,
        store_dtype=config["activations"]["dtype"],
        compression=config["activations"]["compression"],
    input:
        tokens=sorted({spec["tokens"] for spec in PLANNED_STORES.values()}),
    output:
        preflight="results/activations/preflight.json",
    log:
        "results/logs/activations_preflight.log",
    benchmark:
        "results/benchmarks/activations_preflight.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/activations_preflight.py"


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
        # waited for, its time ignored: a rerun of the preflight (a checkpoint added) reruns no extraction
        preflight=ancient("results/activations/preflight.json"),
    output:
        train=store_output("results/activations/{model}/{ckpt}/train.zarr"),
        validation=store_output("results/activations/{model}/{ckpt}/validation.zarr"),
        test=store_output("results/activations/{model}/{ckpt}/test.zarr"),
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
