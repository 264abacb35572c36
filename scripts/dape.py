"""Rule dape: every neuron's probabilities and DAPE, and the selection (lmscope.domain_neurons.neuron_table)."""
from lmscope.atomic import atomic_path
from lmscope.domain_neurons import neuron_table
from lmscope.logs import log_to

log_to(snakemake.log[0])
stores = {name: path for name, path in snakemake.input.items()}
table = neuron_table(stores, snakemake.params.filter_rate, snakemake.params.top_rate)
with atomic_path(snakemake.output[0]) as tmp:
    table.write_parquet(tmp)
