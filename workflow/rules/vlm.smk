# Branch B, stage 2: the embedded tiny LLaVA, trained here on every domain's synthetic train split. VLMs named
# by a local path or a hub repo need no rule: later stages load them with from_pretrained.


rule train_tinyvlm:
    params:
        train=lambda w: VLMS[w.vlm]["train"],
        frames=lambda w: VLMS[w.vlm]["frames"],
        roles={d: DOMAINS[d]["role"] for d in DOMAINS},
    input:
        samples=[f"results/domains/{d}/samples" for d in DOMAINS],
    output:
        model=directory("results/vlms/{vlm}"),
    log:
        "results/logs/train_tinyvlm/{vlm}.log",
    benchmark:
        "results/benchmarks/train_tinyvlm/{vlm}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/train_tinyvlm.py"
