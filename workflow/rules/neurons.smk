# Branch B, stage 3 (METHODS B2-B3): per-domain activation counts of every MLP neuron, then the DAPE selection
# and its tables (table 1, overlap between domains) and the per-layer figure (the paper's figure 5).
# Lookup of this file: each VLM's counting budget, its own or neurons.budget.
BUDGETS = {v["name"]: branch_b.budget_of(config, i) for i, v in enumerate(config.get("vlms", []))}


rule count_neurons:
    params:
        model=lambda w: vlm_entry(w.vlm),
        frames=lambda w: VLMS[w.vlm]["frames"],
        budget=lambda w: BUDGETS[w.vlm],
        split=config["neurons"]["split"],
        seed=config["neurons"]["seed"],
        distinct_images=config["neurons"]["distinct_images"],
        context_overflow=config["context_overflow"],
        device=config["device"],
        dtype=config["dtype"],
    input:
        samples="results/domains/{domain}/samples",
        trained_model=lambda w: trained_vlm_dir(w.vlm),
    output:
        counts=directory("results/neurons/{vlm}/{domain}/counts.zarr"),
    log:
        "results/logs/count_neurons/{vlm}_{domain}.log",
    benchmark:
        "results/benchmarks/count_neurons/{vlm}_{domain}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/count_neurons.py"


rule dape:
    params:
        filter_rate=config["dape"]["filter_rate"],
        top_rate=config["dape"]["top_rate"],
    input:
        unpack(lambda w: {d: f"results/neurons/{w.vlm}/{d}/counts.zarr" for d in DOMAINS}),  # named by domain
    output:
        dape="results/neurons/{vlm}/dape.parquet",
        summary="results/neurons/{vlm}/counts_summary.csv",
    log:
        "results/logs/dape/{vlm}.log",
    benchmark:
        "results/benchmarks/dape/{vlm}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/dape.py"


rule mmneuron_tables:
    input:
        unpack(lambda w: {v: f"results/neurons/{v}/dape.parquet" for v in VLMS}),  # named by VLM
    output:
        table1_csv=report(
            "results/figures/mmneuron/table1.csv", category="Branch B: neurons", caption="../report/table1.rst"
        ),
        table1_md="results/figures/mmneuron/table1.md",
        overlap_csv="results/figures/mmneuron/overlap.csv",
        overlap_md="results/figures/mmneuron/overlap.md",
    log:
        "results/logs/mmneuron_tables/tables.log",
    benchmark:
        "results/benchmarks/mmneuron_tables/tables.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/mmneuron_tables.py"


rule neurons_by_layer:
    input:
        unpack(lambda w: {v: f"results/neurons/{v}/dape.parquet" for v in VLMS}),  # named by VLM
    output:
        pdf=report(
            "results/figures/mmneuron/neurons_by_layer.pdf",
            category="Branch B: neurons",
            caption="../report/neurons_by_layer.rst",
        ),
        csv="results/figures/mmneuron/neurons_by_layer.csv",
    log:
        "results/logs/neurons_by_layer/figure.log",
    benchmark:
        "results/benchmarks/neurons_by_layer/figure.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/neurons_by_layer.py"
