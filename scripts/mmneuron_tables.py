"""Rule mmneuron_tables: table 1 and the overlap between domains, as CSV and markdown
(lmscope.domain_neurons)."""
import polars as pl

from lmscope.atomic import atomic_path
from lmscope.domain_neurons import markdown, overlap, overlap_markdown, table1
from lmscope.logs import log_to

log_to(snakemake.log[0])
tables = {vlm: pl.read_parquet(path) for vlm, path in snakemake.input.items()}
out = snakemake.output
for frame, csv_path, md_path, text in ((table1(tables), out.table1, out.table1_md, None),
                                       (overlap(tables), out.overlap, out.overlap_md, overlap_markdown)):
    with atomic_path(csv_path) as tmp:
        frame.write_csv(tmp)
    with atomic_path(md_path) as tmp:
        tmp.write_text(text(frame) if text else markdown(frame, bold_max=True))
