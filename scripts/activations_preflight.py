"""Rule activations_preflight: the free disk against every planned store (lmscope.sae_checkpoints.disk_preflight)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.disk_preflight import run

log_to(snakemake.log[0])
run(
    tokens=snakemake.input.tokens,
    preflight=snakemake.output.preflight,
    models=snakemake.params.models,
    keep=snakemake.params.keep,
    store_dtype=snakemake.params.store_dtype,
    compression=snakemake.params.compression,
)
