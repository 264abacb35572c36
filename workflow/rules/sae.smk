# Branch A, stage 4 (METHODS A3): a TopK SAE per checkpoint, the learning-rate grid trained side by side, the
# best by validation MSE saved in SAELens's layout; and fig2's sweep of n/d and K on the final checkpoint (one job
# per n/d, its Ks side by side like the learning rates).
# Training state is saved under results/sae/{model}/.resume/ (not an output: it must outlive a killed job).
# A checkpoint entry with `sae:` names an SAE trained elsewhere: load_sae puts it in lmscope's layout under
# results/sae/{model}/loaded/{ckpt}, and no SAE is trained for that checkpoint (sae_dir in common.smk).
# Lookups of this file: the sae config block as the trainer takes it (the sweep overrides n/d), and the sweep's Ks
# per n/d that the main SAE does not already give (one pass over the data trains all Ks of one n/d); where fig2's
# checkpoint has a loaded SAE, the sweep trains the main point too.
SAE_TRAINING = {key: value for key, value in config["sae"].items() if key != "sweep"}
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
