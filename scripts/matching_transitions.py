"""Rule matching_transitions: language tendency and granularity of matched features, checkpoint to checkpoint
(lmscope.sae_checkpoints.matching_figures)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.matching_figures import run_transitions

log_to(snakemake.log[0])
run_transitions(
    matches=list(snakemake.input.matches),
    language=list(snakemake.input.language),
    granularity=list(snakemake.input.granularity),
    pdf=snakemake.output.pdf,
    csv=snakemake.output.csv,
    pairs=snakemake.params.pairs,
    by=snakemake.params.by,
    threshold=snakemake.params.threshold,
)
