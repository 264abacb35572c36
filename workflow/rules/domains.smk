# Branch B, stage 1 (METHODS B2): visual question answering samples per image domain. One rule per source kind
# writes results/domains/{domain}/sources/{kind}{index}; domains_merge concatenates a domain's sources.
# Lookups of this file: every source of a domain as the rule of its kind writes it, in config order; each folder
# source's records files and image archives, and each rsvqa source's JSON files (inputs, so that replacing them
# reprepares the domain).
SOURCE_DIRS = {
    d: [f"results/domains/{d}/sources/{s['kind']}{i}" for i, s in enumerate(DOMAINS[d]["sources"])] for d in DOMAINS
}
FOLDER_FILES = {
    (d, str(i)): sorted(
        {
            os.path.join(s["path"], f)
            for field in ("records", "images")
            for f in (s[field].values() if isinstance(s[field], dict) else [s[field]])
            if field == "records" or f.endswith(".zip")
        }
    )
    for d in DOMAINS
    for i, s in enumerate(DOMAINS[d]["sources"])
    if s["kind"] == "folder"
}
RSVQA_FILES = {
    (d, str(i)): [
        os.path.join(s["path"], f"{s['prefix']}_split_{theirs}_{part}.json")
        for theirs in sorted(set(s["splits"].values()))
        for part in ("questions", "answers")
    ]
    for d in DOMAINS
    for i, s in enumerate(DOMAINS[d]["sources"])
    if s["kind"] == "rsvqa"
}


rule domains_synthetic:
    params:
        source=lambda w: DOMAINS[w.domain]["sources"][int(w.index)],
    output:
        source_samples=directory("results/domains/{domain}/sources/synthetic{index}"),
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
        source=lambda w: DOMAINS[w.domain]["sources"][int(w.index)],
    input:
        files=lambda w: FOLDER_FILES[(w.domain, w.index)],
    output:
        source_samples=directory("results/domains/{domain}/sources/folder{index}"),
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
        source=lambda w: DOMAINS[w.domain]["sources"][int(w.index)],
    output:
        source_samples=directory("results/domains/{domain}/sources/hf{index}"),
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


rule domains_rsvqa:
    params:
        source=lambda w: DOMAINS[w.domain]["sources"][int(w.index)],
    input:
        files=lambda w: RSVQA_FILES[(w.domain, w.index)],
    output:
        source_samples=directory("results/domains/{domain}/sources/rsvqa{index}"),
    log:
        "results/logs/domains_rsvqa/{domain}_{index}.log",
    benchmark:
        "results/benchmarks/domains_rsvqa/{domain}_{index}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/domains_source.py"


rule domains_merge:
    input:
        sources=lambda w: SOURCE_DIRS[w.domain],
    output:
        samples=directory("results/domains/{domain}/samples"),
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
