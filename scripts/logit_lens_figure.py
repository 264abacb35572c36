"""Rule logit_lens_figure: the paper's figure 6 for one domain, one row per VLM
(lmscope.mmneuron.figures.run_logit_lens)."""
from lmscope.logs import log_to
from lmscope.mmneuron.figures import run_logit_lens

log_to(snakemake.log[0])
run_logit_lens(
    lens=list(snakemake.input.lens),
    vlms=snakemake.params.vlms,
    pdf=snakemake.output.pdf,
    domain=snakemake.wildcards.domain,
)
