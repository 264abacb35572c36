"""Rule domains_merge: a domain's sources concatenated per split (lmscope.domains.merge)."""
from lmscope.domains import merge
from lmscope.logs import log_to

log_to(snakemake.log[0])
merge(snakemake.wildcards.domain, list(snakemake.input), snakemake.output[0])
