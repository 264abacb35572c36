"""Rule count_neurons: one VLM's neuron activation counts on one domain (lmscope.mmneuron.neuron_counts.run)."""
from lmscope.logs import log_to
from lmscope.mmneuron.neuron_counts import run

log_to(snakemake.log[0])
run(
    samples=snakemake.input.samples,
    counts=snakemake.output.counts,
    model=snakemake.params.model,
    frames=snakemake.params.frames,
    budget=snakemake.params.budget,
    split=snakemake.params.split,
    seed=snakemake.params.seed,
    distinct_images=snakemake.params.distinct_images,
    context_overflow=snakemake.params.context_overflow,
    device=snakemake.params.device,
    dtype=snakemake.params.dtype,
    domain=snakemake.wildcards.domain,
    threads=snakemake.threads,
)
