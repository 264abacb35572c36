"""Rule fig4: language-tendency shares per checkpoint (lmscope.sae_checkpoints.figures)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.figures import run_fig4

log_to(snakemake.log[0])
run_fig4(
    tallies=snakemake.input.tallies,
    pdf=snakemake.output.pdf,
    csv=snakemake.output.csv,
)
