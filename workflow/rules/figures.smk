# Figures (METHODS A7): vector PDF with the numbers beside each as CSV.


rule fig2:
    params:
        points=lambda w: [{"expansion_factor": e, "k": k} for e, k in sweep_grid()],
    input:
        metrics=lambda w: [sweep_metrics(e, k) for e, k in sweep_grid()],
    output:
        pdf="results/figures/fig2.pdf",
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
        pdf="results/figures/fig4.pdf",
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
