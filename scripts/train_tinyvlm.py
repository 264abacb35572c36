"""Rule train_tinyvlm: the tiny LLaVA on every domain's synthetic train split (lmscope.mmneuron.tinyvlm.run)."""
from lmscope.logs import log_to
from lmscope.mmneuron.tinyvlm import run

log_to(snakemake.log[0])
run(
    samples=list(snakemake.input.samples),
    model=snakemake.output.model,
    train=snakemake.params.train,
    frames=snakemake.params.frames,
    roles=snakemake.params.roles,
    threads=snakemake.threads,
)
