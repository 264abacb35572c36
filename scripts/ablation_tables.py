"""Rule ablation_tables: tables 2 and 3 as CSV and markdown, worst score and largest deviation per column in
bold per model (lmscope.mmneuron.ablation.run_tables)."""
from lmscope.logs import log_to
from lmscope.mmneuron.ablation import run_tables

log_to(snakemake.log[0])
run_tables(
    ablation=list(snakemake.input.ablation),
    vlms=snakemake.params.vlms,
    domains=snakemake.params.domains,
    table2_csv=snakemake.output.table2_csv,
    table2_md=snakemake.output.table2_md,
    table3_csv=snakemake.output.table3_csv,
    table3_md=snakemake.output.table3_md,
)
