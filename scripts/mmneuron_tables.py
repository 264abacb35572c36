"""Rule mmneuron_tables: table 1 and the overlap between domains, as CSV and markdown
(lmscope.mmneuron.neuron_tables.run_tables)."""
from lmscope.logs import log_to
from lmscope.mmneuron.neuron_tables import run_tables

log_to(snakemake.log[0])
run_tables(
    dape=dict(snakemake.input.items()),
    table1_csv=snakemake.output.table1_csv,
    table1_md=snakemake.output.table1_md,
    overlap_csv=snakemake.output.overlap_csv,
    overlap_md=snakemake.output.overlap_md,
)
