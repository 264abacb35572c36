"""Rule neurons_by_layer: the paper's figure 5 (lmscope.mmneuron.figures.run_neurons_by_layer)."""
from lmscope.logs import log_to
from lmscope.mmneuron.figures import run_neurons_by_layer

log_to(snakemake.log[0])
run_neurons_by_layer(
    dape=dict(snakemake.input.items()),
    pdf=snakemake.output.pdf,
    csv=snakemake.output.csv,
)
