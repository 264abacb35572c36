# Features across checkpoints (issue 22): each checkpoint's SAE features matched one to one with the next
# checkpoint's by the correlation of their activations on one seeded sample of test positions, a seed baseline
# (the final checkpoint's SAE against a second one trained with matching.baseline_seed, train_sae_seed), the
# matched share against it and the transitions of language tendency and granularity (first model).
# Lookups of this file: each model's consecutive pairs, the baseline's seed, each pair's matches table, each
# checkpoint's sample, and the SAEs and samples of each pair (the baseline's two SAEs are both trained here and read
# one checkpoint's sample); the targets, and the first model's tables for the figures.
MATCH_PAIRS = {
    m: [(c, n["next"]) for c, n in by_checkpoint.items() if "next" in n] for m, by_checkpoint in NEIGHBOURS.items()
}
FINAL_CHECKPOINTS = {m: list(checkpoint_entries(m))[-1] for m in MODELS}
BASELINE = f"seed-{config['matching']['baseline_seed']}"
MATCHING = {key: config["matching"][key] for key in ("by", "threshold")}
MATCHES = {  # {model: {(checkpoint, checkpoint or seed): matches.parquet}}
    m: {(a, b): f"results/matching/{m}/{a}__{b}/matches.parquet" for a, b in [*pairs, (FINAL_CHECKPOINTS[m], BASELINE)]}
    for m, pairs in MATCH_PAIRS.items()
}
SAMPLES = {m: {c: f"results/matching/{m}/{c}/sample.npy" for c in checkpoint_entries(m)} for m in MODELS}
MATCH_INPUTS = {  # {(model, checkpoint, other): what match_features reads}; the baseline: two seeds, one sample
    (m, a, b): (
        {
            "sae": f"results/sae/{m}/{a}",
            "other_sae": f"results/sae/{m}/{b}/{a}",
            "sample": SAMPLES[m][a],
            "other_sample": SAMPLES[m][a],
        }
        if b == BASELINE
        else {"sae": sae_dir(m, a), "other_sae": sae_dir(m, b), "sample": SAMPLES[m][a], "other_sample": SAMPLES[m][b]}
    )
    for m in MODELS
    for a, b in MATCHES[m]
}
MATCHING_TARGETS = [path for m in MODELS for path in MATCHES[m].values()] + [
    f"results/figures/{name}"
    for name in ("matching.pdf", "matching.csv", "matching_transitions.pdf", "matching_transitions.csv")
]
FIGURE_MATCHES = [MATCHES[FIGURE_MODEL][pair] for pair in MATCH_PAIRS[FIGURE_MODEL]]


rule matching_sample:
    params:
        positions=config["matching"]["positions"],
        seed=config["matching"]["seed"],
    input:
        test="results/activations/{model}/{ckpt}/test.zarr",
    output:
        sample="results/matching/{model}/{ckpt}/sample.npy",
    log:
        "results/logs/matching_sample/{model}/{ckpt}.log",
    benchmark:
        "results/benchmarks/matching_sample/{model}/{ckpt}.tsv"
    threads: 1
    priority: STORE_READERS_PRIORITY  # with activations.keep false, before the next extraction
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/matching_sample.py"


rule match_features:
    params:
        by=config["matching"]["by"],
        batch_rows=config["matching"]["batch_rows"],
        device=config["device"],
    input:
        unpack(lambda w: MATCH_INPUTS[(w.model, w.ckpt, w.other)]),
    output:
        matches="results/matching/{model}/{ckpt}__{other}/matches.parquet",
    log:
        "results/logs/match_features/{model}/{ckpt}__{other}.log",
    benchmark:
        "results/benchmarks/match_features/{model}/{ckpt}__{other}.tsv"
    wildcard_constraints:
        other="|".join(re.escape(c) for m in MODELS for c in checkpoint_entries(m)) + r"|seed-\d+",
    threads: 1
    resources:
        mem_mb=8000,  # 12 bytes x features^2 for the assignment (13 GB at 32,768 features: README)
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/match_features.py"


rule matching_shares:
    params:
        **MATCHING,
        pairs=[list(pair) for pair in MATCH_PAIRS[FIGURE_MODEL]],
    input:
        matches=FIGURE_MATCHES,
        baseline=MATCHES[FIGURE_MODEL][(FINAL_CHECKPOINTS[FIGURE_MODEL], BASELINE)],
    output:
        pdf=report("results/figures/matching.pdf", caption="../report/matching.rst", category="Branch A: features"),
        csv="results/figures/matching.csv",
    log:
        "results/logs/matching_shares.log",
    benchmark:
        "results/benchmarks/matching_shares.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/matching_shares.py"


rule matching_transitions:
    params:
        **MATCHING,
        pairs=[list(pair) for pair in MATCH_PAIRS[FIGURE_MODEL]],
    input:
        matches=FIGURE_MATCHES,
        language=[f"results/features/{FIGURE_MODEL}/{c}/language.parquet" for c in checkpoint_entries(FIGURE_MODEL)],
        granularity=[
            f"results/features/{FIGURE_MODEL}/{c}/granularity.parquet" for c in checkpoint_entries(FIGURE_MODEL)
        ],
    output:
        pdf=report(
            "results/figures/matching_transitions.pdf",
            caption="../report/matching_transitions.rst",
            category="Branch A: features",
        ),
        csv="results/figures/matching_transitions.csv",
    log:
        "results/logs/matching_transitions.log",
    benchmark:
        "results/benchmarks/matching_transitions.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/matching_transitions.py"
