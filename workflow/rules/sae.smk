# Branch A, stage 4 (METHODS A3): a TopK SAE per checkpoint, the learning-rate grid trained side by side, the
# best by validation MSE saved in SAELens's layout; and fig2's sweep of n/d and K on the final checkpoint.
# Training state is saved under results/sae/{model}/.resume/ (not an output: it must outlive a killed job).
# The sae config block as the trainer takes it (the sweep overrides n/d and K).
SAE_TRAINING = {key: value for key, value in config["sae"].items() if key != "sweep"}


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
    resources:
        mem_mb=8000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/train_sae.py"


rule sae_sweep:
    params:
        training=lambda w: {**SAE_TRAINING, "expansion_factor": int(w.expansion), "k": int(w.k)},
        device=config["device"],
        state=lambda w: f"results/sae/{w.model}/.resume/sweep-{w.ckpt}-x{w.expansion}-k{w.k}.pt",
    input:
        unpack(lambda w: activation_stores(w.model, w.ckpt)),
    output:
        metrics="results/sae/{model}/sweep/{ckpt}/x{expansion}_k{k}.json",
    log:
        "results/logs/sae_sweep/{model}/{ckpt}/x{expansion}_k{k}.log",
    benchmark:
        "results/benchmarks/sae_sweep/{model}/{ckpt}/x{expansion}_k{k}.tsv"
    wildcard_constraints:
        expansion=r"\d+",
        k=r"\d+",
    threads: 1  # one job per checkpoint: side-by-side jobs beat threads (README, Timing)
    resources:
        mem_mb=8000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/sae_sweep.py"
