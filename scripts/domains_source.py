"""Rules domains_synthetic, domains_folder, domains_hf: one source of a domain (lmscope.domains.prepare)."""
from lmscope.domains import prepare
from lmscope.logs import log_to

log_to(snakemake.log[0])
prepare(snakemake.wildcards.domain, snakemake.params.source,
        f"{snakemake.params.source['kind']}{snakemake.wildcards.index}", snakemake.output[0])
