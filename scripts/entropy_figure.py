"""Rule entropy_figure: the paper's figure 7 (lmscope.plots.entropy_curves)."""
import polars as pl

from lmscope.logs import log_to
from lmscope.plots import entropy_curves

log_to(snakemake.log[0])
rows = [dict(r, vlm=vlm, domain=domain) for (vlm, domain), d in zip(snakemake.params.pairs, snakemake.input)
        for r in pl.read_parquet(f"{d}/entropy.parquet").to_dicts()]
entropy_curves(rows, snakemake.output.pdf, snakemake.output.csv)
