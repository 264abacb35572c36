"""Rule fig2: test reconstruction MSE against n/d and K (lmscope.sae_checkpoints.figures)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.figures import run_fig2

log_to(snakemake.log[0])
run_fig2(
    metrics=snakemake.input.metrics,
    pdf=snakemake.output.pdf,
    csv=snakemake.output.csv,
    points=snakemake.params.points,
)
