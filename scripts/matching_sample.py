"""Rule matching_sample: one checkpoint's activations at the matching's sampled test positions
(lmscope.sae_checkpoints.feature_matching)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.feature_matching import run_sample

log_to(snakemake.log[0])
run_sample(
    test=snakemake.input.test,
    sample=snakemake.output.sample,
    positions=snakemake.params.positions,
    seed=snakemake.params.seed,
)
