"""Rule sae_sweep: fig2's points of one n/d (every K in one pass), metrics only (lmscope.sae_checkpoints.sae_training)."""
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
    ks=snakemake.params.ks,
    device=snakemake.params.device,
    threads=snakemake.threads,
)
