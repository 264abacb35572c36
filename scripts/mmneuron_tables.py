"""Rule mmneuron_tables: table 1 and the overlap between domains, as CSV and markdown (lmscope.domain_neurons)."""
import polars as pl

from lmscope.atomic import atomic_path
from lmscope.domain_neurons import overlap, overlap_markdown, table1, table1_markdown
from lmscope.logs import log_to


def write(frame: pl.DataFrame, csv_path: str, md_path: str, text: str) -> None:
    with atomic_path(csv_path) as tmp:
        frame.write_csv(tmp)
    with atomic_path(md_path) as tmp:
        tmp.write_text(text)


log_to(snakemake.log[0])
tables = {vlm: pl.read_parquet(path) for vlm, path in snakemake.input.items()}
out = snakemake.output
counts = table1(tables)
write(counts, out.table1, out.table1_md, table1_markdown(counts))
shared = overlap(tables)
write(shared, out.overlap, out.overlap_md, overlap_markdown(shared))
