"""Rule matching_shares: the matched share per pair of checkpoints against the seed baseline
(lmscope.sae_checkpoints.matching_figures)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.matching_figures import run_shares

log_to(snakemake.log[0])
run_shares(
    matches=list(snakemake.input.matches),
    baseline=snakemake.input.baseline,
    pdf=snakemake.output.pdf,
    csv=snakemake.output.csv,
    pairs=snakemake.params.pairs,
    by=snakemake.params.by,
    threshold=snakemake.params.threshold,
)
