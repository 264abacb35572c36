"""Rule sae_quality: one checkpoint's SAE spliced into its model, CE loss recovered, KL and the rest
(lmscope.sae_checkpoints.spliced_quality)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.spliced_quality import run

log_to(snakemake.log[0])
run(
    sae=snakemake.input.sae,
    tokens=snakemake.input.tokens,
    metrics=snakemake.output.metrics,
    core=snakemake.output.core,
    checkpoint=snakemake.params.checkpoint,
    layer=snakemake.params.layer,
    key=snakemake.params.key,
    normalized=snakemake.params.normalized,
    docs=snakemake.params.docs,
    seed=snakemake.params.seed,
    batch_docs=snakemake.params.batch_docs,
    dense_threshold=snakemake.params.dense_threshold,
    device=snakemake.params.device,
    dtype=snakemake.params.dtype,
    model=snakemake.wildcards.model,
    ckpt=snakemake.wildcards.ckpt,
    threads=snakemake.threads,
)
