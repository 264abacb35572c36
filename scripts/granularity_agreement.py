"""Rule granularity_agreement: people's labels against the classifier, Cohen's kappa per checkpoint
(lmscope.sae_checkpoints.granularity_table)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.granularity_table import run_agreement

log_to(snakemake.log[0])
run_agreement(
    tables=snakemake.input.tables,
    csv=snakemake.output.csv,
    checkpoints=snakemake.params.checkpoints,
)
