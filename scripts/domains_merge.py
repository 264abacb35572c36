"""Rule domains_merge: a domain's sources concatenated per split (lmscope.mmneuron.domains.run_merge)."""
from lmscope.logs import log_to
from lmscope.mmneuron.domains import run_merge

log_to(snakemake.log[0])
run_merge(
    sources=list(snakemake.input.sources),
    samples=snakemake.output.samples,
    domain=snakemake.wildcards.domain,
)
