"""Rule granularity_accuracy: the classifier against planted truth per checkpoint
(lmscope.sae_checkpoints.granularity_table)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.granularity_table import run_accuracy

log_to(snakemake.log[0])
run_accuracy(
    tables=snakemake.input.tables,
    csv=snakemake.output.csv,
    confusion=snakemake.output.confusion,
    pdf=snakemake.output.pdf,
    checkpoints=snakemake.params.checkpoints,
)
