# Branch A, stage 4 (METHODS A3): a TopK SAE per checkpoint, the learning-rate grid trained side by side, the
# best by validation MSE saved in SAELens's layout; and fig2's sweep of n/d and K on the final checkpoint (one job
# per n/d, its Ks side by side like the learning rates).
# Training state is saved under results/sae/{model}/.resume/ (not an output: it must outlive a killed job).
# Lookups of this file: the sae config block as the trainer takes it (the sweep overrides n/d), and the sweep's Ks
# per n/d that the main SAE does not already give (one pass over the data trains all Ks of one n/d).
SAE_TRAINING = {key: value for key, value in config["sae"].items() if key != "sweep"}
MAIN_POINT = (config["sae"]["expansion_factor"], config["sae"]["k"])
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
