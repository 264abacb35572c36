"""Rule dape: every neuron's probabilities and DAPE, and the selection (lmscope.mmneuron.neuron_tables.run_dape)."""
from lmscope.logs import log_to
from lmscope.mmneuron.neuron_tables import run_dape

log_to(snakemake.log[0])
run_dape(
    counts=dict(snakemake.input.items()),
    dape=snakemake.output.dape,
    summary=snakemake.output.summary,
    filter_rate=snakemake.params.filter_rate,
    top_rate=snakemake.params.top_rate,
)
