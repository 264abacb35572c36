# Branch A, stage 4 (METHODS A3): a TopK SAE per checkpoint, the learning-rate grid trained side by side, the
# best by validation MSE saved in SAELens's layout; and fig2's sweep of n/d and K on the final checkpoint (one job
# per n/d, its Ks side by side like the learning rates).
# Training state is saved under results/sae/{model}/.resume/ (not an output: it must outlive a killed job).
# A checkpoint entry with `sae:` names an SAE trained elsewhere: load_sae puts it in lmscope's layout under
# results/sae/{model}/loaded/{ckpt}, and no SAE is trained for that checkpoint (sae_dir in common.smk).
# Lookups of this file: the sae config block as the trainer takes it (the sweep overrides n/d), and the sweep's Ks
# per n/d that the main SAE does not already give (one pass over the data trains all Ks of one n/d); where fig2's
# checkpoint has a loaded SAE, the sweep trains the main point too. With sae.init previous each checkpoint's SAE
# starts from the previous checkpoint's (an input: where to start is not a training param, so init fresh plans
# exactly what it did before the key existed).
# train_sae_seed trains the final checkpoint's SAE again with another seed (the matching's seed baseline), and
# sae_quality splices each SAE into its model (CE loss recovered, KL; a table per model).
SAE_TRAINING = {key: value for key, value in config["sae"].items() if key not in ("sweep", "init")}
PREVIOUS_SAE = {  # {model: {checkpoint: [the SAE it starts from]}}: empty for init fresh and the first checkpoint
    m: {
        c: [sae_dir(m, n["previous"])] if config["sae"]["init"] == "previous" and "previous" in n else []
        for c, n in by_checkpoint.items()
    }
    for m, by_checkpoint in NEIGHBOURS.items()
}
MAIN_POINT = (
    None
    if loaded_sae(FIGURE_MODEL, list(checkpoint_entries(FIGURE_MODEL))[-1])
    else (config["sae"]["expansion_factor"], config["sae"]["k"])
)
SWEEP_KS = {
    e: [k for k in config["sae"]["sweep"]["k"] if (e, k) != MAIN_POINT]
    for e in config["sae"]["sweep"]["expansion_factors"]
}


rule train_sae:
    params:
        training=SAE_TRAINING,
        device=config["device"],
        state=lambda w: f"results/sae/{w.model}/.resume/{w.ckpt}.pt",
    input:
        unpack(lambda w: activation_stores(w.model, w.ckpt)),
        previous=lambda w: PREVIOUS_SAE[w.model][w.ckpt],
    output:
        sae=directory("results/sae/{model}/{ckpt}"),
    log:
        "results/logs/train_sae/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/train_sae/{model}/{ckpt}.tsv"
    threads: 1  # one job per checkpoint: side-by-side jobs beat threads (README, Timing)
    priority: STORE_READERS_PRIORITY  # with activations.keep false, before the next extraction
    resources:
        mem_mb=8000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/train_sae.py"


use rule train_sae as train_sae_seed with:
    params:
        training=lambda w: {**SAE_TRAINING, "seed": int(w.seed)},
        device=config["device"],
        state=lambda w: f"results/sae/{w.model}/.resume/seed-{w.seed}-{w.ckpt}.pt",
    output:
        sae=directory("results/sae/{model}/seed-{seed}/{ckpt}"),
    log:
        "results/logs/train_sae_seed/{model}/seed-{seed}/{ckpt}.log",
    benchmark:
        "results/benchmarks/train_sae_seed/{model}/seed-{seed}/{ckpt}.tsv"
    wildcard_constraints:
        seed=r"\d+",


rule sae_sweep:
    params:
        training=lambda w: {**SAE_TRAINING, "expansion_factor": int(w.expansion)},
        ks=lambda w: SWEEP_KS[int(w.expansion)],
        device=config["device"],
        state=lambda w: f"results/sae/{w.model}/.resume/sweep-{w.ckpt}-x{w.expansion}.pt",
    input:
        unpack(lambda w: activation_stores(w.model, w.ckpt)),
    output:
        metrics="results/sae/{model}/sweep/{ckpt}/x{expansion}.json",
    log:
        "results/logs/sae_sweep/{model}/{ckpt}/x{expansion}.log",
    benchmark:
        "results/benchmarks/sae_sweep/{model}/{ckpt}/x{expansion}.tsv"
    wildcard_constraints:
        expansion=r"\d+",
    threads: 1  # one job per checkpoint: side-by-side jobs beat threads (README, Timing)
    priority: STORE_READERS_PRIORITY  # with activations.keep false, before the next extraction
    resources:
        mem_mb=8000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/sae_sweep.py"


rule load_sae:
    params:
        source=lambda w: loaded_sae(w.model, w.ckpt),
        key=lambda w: released_sae_key(w.model, w.ckpt),
        d_model=lambda w: model_width(w.model, w.ckpt),
        normalized=config["activations"]["normalize"],
    input:
        local=lambda w: [loaded_sae(w.model, w.ckpt)["path"]] if "path" in loaded_sae(w.model, w.ckpt) else [],
    output:
        sae=directory("results/sae/{model}/loaded/{ckpt}"),
    log:
        "results/logs/load_sae/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/load_sae/{model}/{ckpt}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/load_sae.py"


rule sae_quality:
    params:
        checkpoint=lambda w: checkpoint_entries(w.model)[w.ckpt],
        layer=lambda w: MODELS[w.model]["layer"],
        key=lambda w: f"{MODEL_KEY[w.model]}.layer",
        normalized=config["activations"]["normalize"],
        docs=config["quality"]["docs"],
        seed=config["quality"]["seed"],
        batch_docs=config["quality"]["batch_docs"],
        dense_threshold=config["quality"]["dense_threshold"],
        device=config["device"],
        dtype=config["dtype"],
    input:
        sae=lambda w: sae_dir(w.model, w.ckpt),
        tokens=lambda w: f"{corpus_of(w.model)}/tokens.zarr",
        trained_model=lambda w: TRAINED_MODEL_DIR[w.model],
    output:
        metrics="results/sae/{model}/quality/{ckpt}/metrics.json",
        core="results/sae/{model}/quality/{ckpt}/core.json",
    log:
        "results/logs/sae_quality/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/sae_quality/{model}/{ckpt}.tsv"
    threads: 1  # one job per checkpoint: side-by-side jobs beat threads (README, Timing)
    resources:
        mem_mb=8000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/sae_quality.py"


rule sae_quality_table:
    params:
        checkpoints=lambda w: list(checkpoint_entries(w.model)),
    input:
        metrics=lambda w: [f"results/sae/{w.model}/quality/{c}/metrics.json" for c in checkpoint_entries(w.model)],
    output:
        csv=report(
            "results/sae/{model}/quality.csv",
            caption="../report/sae_quality.rst",
            category="Branch A: features",
            labels={"model": "{model}", "figure": "SAE quality in the model"},
        ),
        md="results/sae/{model}/quality.md",
    log:
        "results/logs/sae_quality_table/{model}.log",
    benchmark:
        "results/benchmarks/sae_quality_table/{model}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/sae_quality_table.py"
