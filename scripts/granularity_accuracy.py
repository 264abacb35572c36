"""Rule granularity_accuracy: the classifier against planted truth per checkpoint (lmscope.granularity.accuracy)."""
import polars as pl

from lmscope.atomic import atomic_path
from lmscope.granularity import accuracy
from lmscope.logs import log_to
from lmscope.plots import granularity_accuracy

log_to(snakemake.log[0])
rows, confusion = [], []
for ckpt, path in zip(snakemake.params.checkpoints, snakemake.input.tables):
    row, matrix = accuracy(pl.read_parquet(path), ckpt)
    rows.append(row)
    confusion += matrix
for frame, out in ((rows, snakemake.output.csv), (confusion, snakemake.output.confusion)):
    with atomic_path(out) as tmp:
        pl.DataFrame(frame).write_csv(tmp)
granularity_accuracy(rows, confusion, snakemake.output.pdf)
