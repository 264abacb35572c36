"""Rule neurons_by_layer: the paper's figure 5 (lmscope.domain_neurons.by_layer, lmscope.plots)."""
import polars as pl

from lmscope.domain_neurons import MODULE_NAMES, by_layer
from lmscope.logs import log_to
from lmscope.plots import neurons_by_layer

log_to(snakemake.log[0])
tables = {vlm: pl.read_parquet(path) for vlm, path in snakemake.input.items()}
neurons_by_layer(by_layer(tables).to_dicts(), MODULE_NAMES, snakemake.output.pdf, snakemake.output.csv)
