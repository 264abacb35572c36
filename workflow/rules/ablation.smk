# Branch B, stage 4 (METHODS B4): each domain's neurons switched off per module group; VQA scores (table 2) and
# the last layer's deviation against as many random neurons (table 3).


rule ablation:
    params:
        model=lambda w: vlm_entry(w.vlm),
        frames=lambda w: VLMS[w.vlm]["frames"],
        groups=config["ablation"]["groups"],
        role=lambda w: DOMAINS[w.domain]["role"],
        metric=lambda w: DOMAINS[w.domain]["metric"],
        judge=lambda w: DOMAINS[w.domain].get("judge"),
        generation=config["ablation"]["generation"],
        seeds=config["ablation"]["random_seeds"],
        n_samples=config["ablation"]["samples"],
        seed=config["ablation"]["seed"],
        context_overflow=config["context_overflow"],
        device=config["device"],
        dtype=config["dtype"],
    input:
        samples="results/domains/{domain}/samples",
        dape="results/neurons/{vlm}/dape.parquet",
        trained_model=lambda w: trained_vlm_dir(w.vlm),
    output:
        ablation=directory("results/ablation/{vlm}/{domain}"),
    log:
        "results/logs/ablation/{vlm}_{domain}.log",
    benchmark:
        "results/benchmarks/ablation/{vlm}_{domain}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/ablation.py"


rule ablation_tables:
    params:
        domains=list(DOMAINS),
        vlms=list(VLMS),
    input:
        ablation=[f"results/ablation/{v}/{d}" for v in VLMS for d in DOMAINS],
    output:
        table2_csv=report(
            "results/figures/mmneuron/table2.csv", category="Branch B: neurons", caption="../report/table2.rst"
        ),
        table2_md="results/figures/mmneuron/table2.md",
        table3_csv=report(
            "results/figures/mmneuron/table3.csv", category="Branch B: neurons", caption="../report/table3.rst"
        ),
        table3_md="results/figures/mmneuron/table3.md",
    log:
        "results/logs/ablation_tables/tables.log",
    benchmark:
        "results/benchmarks/ablation_tables/tables.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/ablation_tables.py"
