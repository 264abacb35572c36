# Figures (METHODS A7): vector PDF with the numbers beside each as CSV.
from lmscope.sae_checkpoints.stages import stage_checkpoints

# Lookups of this file, all for the first model. fig2: its points (n/d, K), each one's metrics (the final
# checkpoint's own SAE where the point is the main setting, else the sweep's JSON); fig4: the language tally
# per checkpoint in training order; fig3 / fig6: {stage: checkpoint} (early, middle, final) and each stage's
# tables.
FINAL_CKPT = checkpoint_name(config["models"][0]["checkpoints"][-1])
SWEEP_GRID = [(e, k) for e in config["sae"]["sweep"]["expansion_factors"] for k in config["sae"]["sweep"]["k"]]
SWEEP_METRICS = [
    (
        f"results/sae/{FIGURE_MODEL}/{FINAL_CKPT}"
        if (e, k) == MAIN_POINT  # None where that checkpoint's SAE is loaded: the sweep trains the main point
        else f"results/sae/{FIGURE_MODEL}/sweep/{FINAL_CKPT}/x{e}.json"
    )
    for e, k in SWEEP_GRID
]
LANGUAGE_TALLIES = [f"results/features/{FIGURE_MODEL}/{c}/language_tally.csv" for c in checkpoint_entries(FIGURE_MODEL)]
EXAMPLE_STAGES = stage_checkpoints(list(checkpoint_entries(FIGURE_MODEL)), config["examples"]["checkpoints"])
STAGE_TABLES = {
    table: [f"results/features/{FIGURE_MODEL}/{ckpt}/{table}.parquet" for ckpt in EXAMPLE_STAGES.values()]
    for table in ("contexts", "features", "language", "granularity")
}


rule fig2:
    params:
        points=[{"expansion_factor": e, "k": k} for e, k in SWEEP_GRID],
    input:
        metrics=SWEEP_METRICS,
    output:
        pdf=report("results/figures/fig2.pdf", caption="../report/fig2.rst", category="Branch A: features"),
        csv="results/figures/fig2.csv",
    log:
        "results/logs/fig2.log",
    benchmark:
        "results/benchmarks/fig2.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/fig2.py"


rule fig4:
    input:
        tallies=LANGUAGE_TALLIES,
    output:
        pdf=report("results/figures/fig4.pdf", caption="../report/fig4.rst", category="Branch A: features"),
        csv="results/figures/fig4.csv",
    log:
        "results/logs/fig4.log",
    benchmark:
        "results/benchmarks/fig4.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/fig4.py"


rule example_features:
    # fig3 (a few features) and fig6 (more) at the early, middle and final checkpoint
    params:
        stages=EXAMPLE_STAGES,
        n_features=lambda w: config["examples"][f"{w.fig}_features"],
        texts=config["examples"]["texts"],
        seed=config["examples"]["seed"],
        pinned=lambda w: {c: config["examples"]["pinned"][c] for c in sorted(config["examples"]["pinned"])},
        tokenizer=tokenizer_source(MODELS[FIGURE_MODEL]["corpus"]),
    input:
        contexts=STAGE_TABLES["contexts"],
        features=STAGE_TABLES["features"],
        language=STAGE_TABLES["language"],
        granularity=STAGE_TABLES["granularity"],
        documents=f"{corpus_of(FIGURE_MODEL)}/documents.parquet",
        tokens=f"{corpus_of(FIGURE_MODEL)}/tokens.zarr",
        trained_tokenizer=trained_tokenizer(MODELS[FIGURE_MODEL]["corpus"]),
    output:
        html_page=report("results/figures/{fig}.html", caption="../report/examples.rst", category="Branch A: features"),
        pdf="results/figures/{fig}.pdf",
        csv="results/figures/{fig}.csv",
    wildcard_constraints:
        fig="fig3|fig6",
    log:
        "results/logs/{fig}.log",
    benchmark:
        "results/benchmarks/{fig}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/example_features.py"
