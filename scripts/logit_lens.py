"""Rule logit_lens: one VLM on one domain's validation questions (lmscope.mmneuron.logit_lens.run)."""
from lmscope.logs import log_to
from lmscope.mmneuron.logit_lens import run

log_to(snakemake.log[0])
run(
    samples=snakemake.input.samples,
    lens=snakemake.output.lens,
    model=snakemake.params.model,
    frames=snakemake.params.frames,
    role=snakemake.params.role,
    n_samples=snakemake.params.n_samples,
    seed=snakemake.params.seed,
    context_overflow=snakemake.params.context_overflow,
    layers=snakemake.params.layers,
    top_k=snakemake.params.top_k,
    device=snakemake.params.device,
    dtype=snakemake.params.dtype,
    domain=snakemake.wildcards.domain,
    threads=snakemake.threads,
)
