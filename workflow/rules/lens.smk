# Branch B, stage 5 (METHODS B5): the logit lens over image and text tokens, per VLM and domain; the paper's
# figures 6 (top tokens per layer) and 7 (entropy per layer).


rule logit_lens:
    params:
        model=lambda w: vlm_entry(w.vlm),
        frames=lambda w: VLMS[w.vlm]["frames"],
        role=lambda w: DOMAINS[w.domain]["role"],
        n_samples=config["lens"]["samples"],
        seed=config["lens"]["seed"],
        context_overflow=config["context_overflow"],
        layers=config["lens"]["layers"],
        top_k=config["lens"]["top_k"],
        device=config["device"],
        dtype=config["dtype"],
    input:
        samples="results/domains/{domain}/samples",
        trained_model=lambda w: trained_vlm_dir(w.vlm),
    output:
        lens=directory("results/lens/{vlm}/{domain}"),
    log:
        "results/logs/logit_lens/{vlm}_{domain}.log",
    benchmark:
        "results/benchmarks/logit_lens/{vlm}_{domain}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=uses_gpu(),
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/logit_lens.py"


rule logit_lens_figure:
    params:
        vlms=list(VLMS),
    input:
        lens=[f"results/lens/{v}/{{domain}}" for v in VLMS],
    output:
        pdf=report(
            "results/figures/mmneuron/logit_lens_{domain}.pdf",
            category="Branch B: neurons",
            caption="../report/logit_lens.rst",
        ),
    log:
        "results/logs/logit_lens_figure/{domain}.log",
    benchmark:
        "results/benchmarks/logit_lens_figure/{domain}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/logit_lens_figure.py"


rule entropy_figure:
    params:
        pairs=[[v, d] for v in VLMS for d in DOMAINS],
    input:
        lens=[f"results/lens/{v}/{d}" for v in VLMS for d in DOMAINS],
    output:
        pdf=report(
            "results/figures/mmneuron/entropy.pdf", category="Branch B: neurons", caption="../report/entropy.rst"
        ),
        csv="results/figures/mmneuron/entropy.csv",
    log:
        "results/logs/entropy_figure/figure.log",
    benchmark:
        "results/benchmarks/entropy_figure/figure.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/lmscope.yaml"
    script:
        "../../scripts/entropy_figure.py"
