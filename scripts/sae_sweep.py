"""Rule sae_sweep: one (n/d, K) point of fig2, metrics only (lmscope.sae_checkpoints.sae_training)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.sae_training import run_sweep

log_to(snakemake.log[0])
run_sweep(
    train=snakemake.input.train,
    validation=snakemake.input.validation,
    test=snakemake.input.test,
    metrics=snakemake.output.metrics,
    state=snakemake.params.state,
    training=snakemake.params.training,
    device=snakemake.params.device,
    threads=snakemake.threads,
)
