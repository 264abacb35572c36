"""Rules fig3 / fig6: example features with highlighted texts at three checkpoints (lmscope.examples.run)."""
from lmscope.examples import run
from lmscope.logs import log_to

log_to(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
tables = ("contexts", "features", "language", "granularity")
stage_inputs = {stage: {"checkpoint": ckpt, **{t: i[f"{stage}_{t}"] for t in tables}} for stage, ckpt in p.stages.items()}
title = {"fig3": "Example SAE features", "fig6": "More example SAE features"}[snakemake.wildcards.fig]
run(stage_inputs, i.documents, i.tokens, p.tokenizer, o.html, o.pdf, o.csv, title, p.n_features, p.texts, p.seed,
    p.pinned)
