"""Rule fig5: granularity shares per checkpoint (lmscope.sae_checkpoints.figures)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.figures import run_fig5

log_to(snakemake.log[0])
run_fig5(
    tables=snakemake.input.tables,
    pdf=snakemake.output.pdf,
    csv=snakemake.output.csv,
    checkpoints=snakemake.params.checkpoints,
)
