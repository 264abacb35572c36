"""Rule browser_index: the browser's index page across checkpoints (lmscope.sae_checkpoints.browser)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.browser import run_index

log_to(snakemake.log[0])
run_index(
    language=snakemake.input.language,
    pages=snakemake.input.pages,
    index=snakemake.output.index,
    checkpoints=snakemake.params.checkpoints,
    model=snakemake.wildcards.model,
)
