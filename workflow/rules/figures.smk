# Figures (METHODS A7): vector PDF with the numbers beside each as CSV.


rule fig2:
    params:
        points=lambda w: [{"expansion_factor": e, "k": k} for e, k in sweep_grid()],
    input:
        metrics=lambda w: [sweep_metrics(e, k) for e, k in sweep_grid()],
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
        tallies=language_tallies(),
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
        stages=example_stages(),
        n_features=lambda w: config["examples"][f"{w.fig}_features"],
        texts=config["examples"]["texts"],
        seed=config["examples"]["seed"],
        pinned=lambda w: {c: config["examples"]["pinned"][c] for c in sorted(config["examples"]["pinned"])},
        tokenizer=tokenizer_source(MODELS[FIGURE_MODEL]["corpus"]),
    input:
        unpack(example_inputs),
        documents=f"{corpus_of(FIGURE_MODEL)}/documents.parquet",
        tokens=f"{corpus_of(FIGURE_MODEL)}/tokens.zarr",
        tokenizer=trained_tokenizer(MODELS[FIGURE_MODEL]["corpus"]),
    output:
        html=report("results/figures/{fig}.html", caption="../report/examples.rst", category="Branch A: features"),
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
