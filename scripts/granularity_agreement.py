"""Rule granularity_agreement: people's labels against the classifier, Cohen's kappa per checkpoint."""
import polars as pl

from lmscope.atomic import atomic_path
from lmscope.granularity import agreement
from lmscope.logs import log_to

log_to(snakemake.log[0])
rows = [agreement(pl.read_parquet(path), ckpt) for ckpt, path in zip(snakemake.params.checkpoints, snakemake.input.tables)]
with atomic_path(snakemake.output[0]) as tmp:
    pl.DataFrame(rows).write_csv(tmp)
