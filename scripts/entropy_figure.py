"""Rule entropy_figure: the paper's figure 7 (lmscope.mmneuron.figures.run_entropy)."""
from lmscope.logs import log_to
from lmscope.mmneuron.figures import run_entropy

log_to(snakemake.log[0])
run_entropy(
    lens=list(snakemake.input.lens),
    pairs=snakemake.params.pairs,
    pdf=snakemake.output.pdf,
    csv=snakemake.output.csv,
)
