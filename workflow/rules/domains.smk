# Branch B, stage 1 (METHODS B2): visual question answering samples per image domain. One rule per source kind
# writes results/domains/{domain}/sources/{kind}{index}; domains_merge concatenates a domain's sources.


rule domains_synthetic:
    params:
        source=lambda w: domain_source(w.domain, w.index),
    output:
        directory("results/domains/{domain}/sources/synthetic{index}"),
    log:
        "results/logs/domains_synthetic/{domain}_{index}.log",
    benchmark:
        "results/benchmarks/domains_synthetic/{domain}_{index}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/domains_source.py"


rule domains_folder:
    params:
        source=lambda w: domain_source(w.domain, w.index),
    input:
        records=lambda w: folder_records(w.domain, w.index),
    output:
        directory("results/domains/{domain}/sources/folder{index}"),
    log:
        "results/logs/domains_folder/{domain}_{index}.log",
    benchmark:
        "results/benchmarks/domains_folder/{domain}_{index}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/domains_source.py"


rule domains_hf:
    params:
        source=lambda w: domain_source(w.domain, w.index),
    output:
        directory("results/domains/{domain}/sources/hf{index}"),
    log:
        "results/logs/domains_hf/{domain}_{index}.log",
    benchmark:
        "results/benchmarks/domains_hf/{domain}_{index}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/domains_source.py"


rule domains_merge:
    input:
        lambda w: domain_source_dirs(w.domain),
    output:
        directory("results/domains/{domain}/samples"),
    log:
        "results/logs/domains_merge/{domain}.log",
    benchmark:
        "results/benchmarks/domains_merge/{domain}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/domains_merge.py"
