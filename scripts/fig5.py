"""Rule fig5: granularity shares per checkpoint (lmscope.granularity.tally, lmscope.plots.fig5)."""
import polars as pl

from lmscope.granularity import tally
from lmscope.logs import log_to
from lmscope.plots import fig5

log_to(snakemake.log[0])
rows = [tally(pl.read_parquet(path), ckpt) for ckpt, path in zip(snakemake.params.checkpoints, snakemake.input.tables)]
fig5(rows, snakemake.output.pdf, snakemake.output.csv)
