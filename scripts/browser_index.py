"""Rule browser_index: the browser's index page across checkpoints (lmscope.browser.run_index)."""
from lmscope.browser import run_index
from lmscope.logs import log_to

log_to(snakemake.log[0])
run_index(snakemake.input.language, snakemake.input.pages, snakemake.params.checkpoints, snakemake.output[0],
          snakemake.wildcards.model)
