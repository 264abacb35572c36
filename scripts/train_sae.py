"""Rules train_sae and train_sae_seed: the checkpoint's TopK SAE over the learning-rate grid
(lmscope.sae_checkpoints.sae_training)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.sae_training import run

log_to(snakemake.log[0])
run(
    train=snakemake.input.train,
    validation=snakemake.input.validation,
    test=snakemake.input.test,
    previous=list(snakemake.input.previous),
    sae=snakemake.output.sae,
    state=snakemake.params.state,
    training=snakemake.params.training,
    device=snakemake.params.device,
    threads=snakemake.threads,
)
