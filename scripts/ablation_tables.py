"""Rule ablation_tables: tables 2 and 3 as CSV and markdown, worst score and largest deviation per column in
bold per model (lmscope.ablation)."""
import polars as pl

from lmscope.ablation import table2, table3
from lmscope.atomic import atomic_path
from lmscope.logs import log_to
from lmscope.tables import markdown

log_to(snakemake.log[0])
pairs = [(v, d) for v in snakemake.params.vlms for d in snakemake.params.domains]
summaries = {pair: pl.read_csv(f"{path}/summary.csv") for pair, path in zip(pairs, snakemake.input)}
out = snakemake.output
for frame, csv_path, md_path, mark in ((table2(summaries), out.table2, out.table2_md, "min"),
                                       (table3(summaries), out.table3, out.table3_md, "max")):
    with atomic_path(csv_path) as tmp:
        frame.write_csv(tmp)
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown(frame, mark=mark, labels=2, block="vlm", unmarked=("None", "Random (Avg.)")))
