"""Rule extract_activations: one layer of one checkpoint on every split (lmscope.sae_checkpoints.activations)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.activations import run

log_to(snakemake.log[0])
run(
    tokens=snakemake.input.tokens,
    train=snakemake.output.train,
    validation=snakemake.output.validation,
    test=snakemake.output.test,
    throughput=snakemake.output.throughput,
    checkpoint=snakemake.params.checkpoint,
    layer=snakemake.params.layer,
    key=snakemake.params.key,
    corpus=snakemake.params.corpus,
    normalize=snakemake.params.normalize,
    store_dtype=snakemake.params.store_dtype,
    compression=snakemake.params.compression,
    batch_size=snakemake.params.batch_size,
    device=snakemake.params.device,
    dtype=snakemake.params.dtype,
    model=snakemake.wildcards.model,
    threads=snakemake.threads,
)
