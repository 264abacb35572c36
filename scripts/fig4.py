"""Rule fig4: language-tendency shares per checkpoint (lmscope.plots.fig4)."""
import polars as pl

from lmscope.logs import log_to
from lmscope.plots import fig4

log_to(snakemake.log[0])
fig4([row for path in snakemake.input.tallies for row in pl.read_csv(path).to_dicts()], snakemake.output.pdf,
     snakemake.output.csv)
