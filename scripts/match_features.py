"""Rule match_features: one checkpoint's SAE features matched to the next's, or to another seed's
(lmscope.sae_checkpoints.feature_matching)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.feature_matching import run

log_to(snakemake.log[0])
run(
    sae=snakemake.input.sae,
    other_sae=snakemake.input.other_sae,
    sample=snakemake.input.sample,
    other_sample=snakemake.input.other_sample,
    matches=snakemake.output.matches,
    by=snakemake.params.by,
    batch_rows=snakemake.params.batch_rows,
    device=snakemake.params.device,
    threads=snakemake.threads,
)
