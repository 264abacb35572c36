"""Rule sae_quality_table: the spliced metrics of every checkpoint's SAE in one table
(lmscope.sae_checkpoints.spliced_quality)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.spliced_quality import run_table

log_to(snakemake.log[0])
run_table(
    metrics=list(snakemake.input.metrics),
    csv=snakemake.output.csv,
    md=snakemake.output.md,
    checkpoints=snakemake.params.checkpoints,
)
