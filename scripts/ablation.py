"""Rule ablation: one VLM on one domain's validation questions with its neurons off
(lmscope.mmneuron.ablation.run_ablation)."""
from lmscope.logs import log_to
from lmscope.mmneuron.ablation import run_ablation

log_to(snakemake.log[0])
run_ablation(
    samples=snakemake.input.samples,
    dape=snakemake.input.dape,
    ablation=snakemake.output.ablation,
    model=snakemake.params.model,
    frames=snakemake.params.frames,
    groups=snakemake.params.groups,
    role=snakemake.params.role,
    metric=snakemake.params.metric,
    judge=snakemake.params.judge,
    generation=snakemake.params.generation,
    seeds=snakemake.params.seeds,
    n_samples=snakemake.params.n_samples,
    seed=snakemake.params.seed,
    context_overflow=snakemake.params.context_overflow,
    device=snakemake.params.device,
    dtype=snakemake.params.dtype,
    domain=snakemake.wildcards.domain,
    threads=snakemake.threads,
)
