"""Rules domains_synthetic, domains_folder, domains_hf, domains_rsvqa: one source of a domain
(lmscope.mmneuron.domains.run_source)."""
from lmscope.logs import log_to
from lmscope.mmneuron.domains import run_source

log_to(snakemake.log[0])
run_source(
    source=snakemake.params.source,
    source_samples=snakemake.output.source_samples,
    domain=snakemake.wildcards.domain,
    index=snakemake.wildcards.index,
)
